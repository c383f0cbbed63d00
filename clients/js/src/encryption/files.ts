import type { AttachmentCrypto, AttachmentFile, SealedUpload } from '../attachments.js';
import {
  cipherRangeFor,
  cipherSizeFor,
  decryptChunks,
  decryptFile,
  decryptFileMeta,
  ENCRYPTED_CONTENT_TYPE,
  encryptFile,
  MAX_HEADER_BYTES,
  PREAMBLE_BYTES,
  parseFileHeader,
  type UnlockedKeys,
} from '../crypto/index.js';
import { DecryptionError, JournalError } from '../errors.js';
import type { EncryptionCore } from './core.js';

/** Node's fetch streams a request body; browsers and React Native send a Blob. */
const streamsUploads = (() => {
  const g = globalThis as { process?: { versions?: { node?: unknown } }; window?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.window === undefined;
})();

/**
 * The attachments' encryption hooks (docs/encryption.md "Attachments: chunked stream format"):
 * uploads are encrypted when the account is, downloads decrypted, ranged reads fetch the
 * header and then only the chunks that cover the range. A file that does not decrypt is a
 * DecryptionError, recorded in `encryption.failures()` and reported.
 */
export function fileHooks(core: EncryptionCore): AttachmentCrypto {
  /** The keys to decrypt with (learnt once when missing); `encryption_locked` without them. */
  const keysFor = async (): Promise<UnlockedKeys> => {
    await core.load();
    if (!core.keys) await core.refresh();
    if (!core.keys) throw new JournalError('encryption_locked', 'encryption is on: unlock first');
    return core.keys;
  };
  const failed = (id: string, err: unknown): never => {
    if (err instanceof JournalError && !(err instanceof DecryptionError)) throw err;
    const failure =
      err instanceof DecryptionError
        ? err
        : new DecryptionError(`attachment ${id}: ${(err as Error).message}`, {
            attachmentId: id,
            cause: err,
          });
    core.recordFailure(id, failure);
    throw failure;
  };

  return {
    async seal(id, blob, meta, whole = false): Promise<SealedUpload | undefined> {
      await core.load();
      if (core.state === 'unknown') await core.refresh();
      if (core.state === 'off') return undefined;
      const keys = await keysFor();
      // Hashed in one pass, sent in a second (the nonces are fixed by the file key: the same
      // bytes both times), one chunk at a time. Elsewhere than Node the first pass keeps its
      // chunks as the Blob that is sent.
      const file = encryptFile(keys, id, blob, meta, { keepParts: whole || !streamsUploads });
      const sha256 = await file.sha256();
      const body = streamsUploads && !whole ? () => file.stream() : () => file.blob();
      return { contentType: ENCRYPTED_CONTENT_TYPE, sha256, body, blob: () => file.blob() };
    },

    async open(id, cipher): Promise<AttachmentFile> {
      const keys = await keysFor();
      try {
        const { meta, blob } = await decryptFile(keys, id, cipher);
        core.clearFailure(id);
        return { blob, type: meta.type, name: meta.name };
      } catch (err) {
        return failed(id, err);
      }
    },

    async range(id, start, end, size, fetch): Promise<Uint8Array> {
      const keys = await keysFor();
      try {
        return await readRange(keys, id, start, end, size, fetch);
      } catch (err) {
        return failed(id, err);
      }
    },
  };
}

/**
 * Plaintext bytes [start, end] of a stored encrypted file of `size` bytes: its header (one
 * request of at most 64 KiB + 12 bytes), then the whole chunks covering the range.
 */
async function readRange(
  keys: UnlockedKeys,
  id: string,
  start: number,
  end: number,
  size: number,
  fetch: (from: number, to: number) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const head = await fetch(0, Math.min(size, PREAMBLE_BYTES + MAX_HEADER_BYTES) - 1);
  const { header, headerEnd } = parseFileHeader(head, id);
  // The plaintext size as the (authenticated) meta says; the stored size must match it.
  const plainSize = decryptFileMeta(keys, id, header).size;
  if (cipherSizeFor(headerEnd, plainSize) !== size) {
    throw new DecryptionError(`attachment ${id} is truncated or extended`, { attachmentId: id });
  }
  if (start >= plainSize) return new Uint8Array(0);
  const last = Math.min(end, plainSize - 1);
  const r = cipherRangeFor(header, headerEnd, plainSize, start, last);
  const lastChunkIndex = Math.max(1, Math.ceil(plainSize / header.chunkSize)) - 1;
  const plain = decryptChunks(
    keys,
    id,
    header,
    r.firstChunk,
    lastChunkIndex,
    await fetch(r.start, r.end),
  );
  return plain.subarray(r.skip, r.skip + (last - start + 1));
}
