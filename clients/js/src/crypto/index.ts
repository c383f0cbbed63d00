/** End-to-end encryption's cryptographic core (docs/encryption.md). */
export { fromBase64url, toBase64url } from './encoding.js';
export { decryptEntry, encryptEntry } from './entries.js';
export { ENCRYPTED_CONTENT_TYPE, type Envelope, isEnvelope } from './envelope.js';
export type { EncryptedFile, SealOptions } from './file-cipher.js';
export {
  CHUNK_SIZE,
  cipherRangeFor,
  cipherSizeFor,
  FILE_MAGIC,
  type FileHeader,
  type FileMeta,
  MAX_HEADER_BYTES,
  PREAMBLE_BYTES,
  parseFileHeader,
  plainSizeFor,
} from './file-format.js';
export {
  decryptChunks,
  decryptFile,
  decryptFileMeta,
  decryptFileStream,
  encryptFile,
} from './files.js';
export { checkKdfParams, defaultKdfParams, KDF_LIMITS, type KdfParams } from './kdf.js';
export {
  addContentKey,
  adoptMaterial,
  type BundleMaterial,
  createBundle,
  rewrapForPassphrase,
  type UnlockedKeys,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
  type WrappedContentKey,
} from './keys.js';
export { deserializeKeys, serializeKeys } from './keystore.js';
export { decryptWithPassphrase, encryptWithPassphrase } from './passphrase-export.js';
