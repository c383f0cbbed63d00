/**
 * Attachments (docs/encryption.md "Attachments: chunked stream format"): a fresh file key per
 * upload, wrapped under the current content key; the name, type and size sealed with the file
 * key; chunks bound to the user and the attachment.
 */
import { DecryptionError, JournalError } from '../errors.js';
import { fromBase64url, fromUtf8, toBase64url, utf8 } from './encoding.js';
import { ENCRYPTED_CONTENT_TYPE, openEnvelope, sealEnvelope } from './envelope.js';
import {
  type EncryptedFile,
  type OpenedHeader,
  openChunkRun,
  openFileStream,
  type SealOptions,
  sealFile,
} from './file-cipher.js';
import {
  CHUNK_SIZE,
  encodeHeader,
  FILE_ALG,
  type FileBinding,
  type FileHeader,
  type FileMeta,
  PREFIX_BYTES,
} from './file-format.js';
import type { UnlockedKeys } from './keys.js';
import { KEY_BYTES, randomBytes } from './primitives.js';

const FILE_KEY = 'journal/e2e/file-key';
const FILE_META = 'journal/e2e/file-meta';

/** A header for a new file: its random file key wrapped under `wrapKey` (kid `kid`), meta sealed. */
export function newFileHeader(
  wrapKey: Uint8Array,
  kid: string,
  binding: FileBinding,
  meta: FileMeta,
): { header: FileHeader; fileKey: Uint8Array } {
  const fileKey = randomBytes(KEY_BYTES);
  const bind = [binding.userId, binding.attachmentId];
  const header: FileHeader = {
    v: 1,
    alg: FILE_ALG,
    chunkSize: CHUNK_SIZE,
    kid,
    prefix: toBase64url(randomBytes(PREFIX_BYTES)),
    fileKey: sealEnvelope(wrapKey, kid, FILE_KEY, bind, fileKey),
    meta: sealEnvelope(fileKey, 'file', FILE_META, bind, utf8(JSON.stringify(meta))),
  };
  return { header, fileKey };
}

/** The file key and meta of `header`, opened with `wrapKey`; DecryptionError when they do not open. */
export function openFileHeader(
  wrapKey: Uint8Array,
  binding: FileBinding,
  header: FileHeader,
): OpenedHeader {
  const id = binding.attachmentId;
  const bind = [binding.userId, id];
  const fileKey = openEnvelope(wrapKey, FILE_KEY, bind, header.fileKey);
  if (fileKey?.length !== KEY_BYTES)
    throw new DecryptionError(`the file key of attachment ${id} does not decrypt`, {
      attachmentId: id,
    });
  const plain = openEnvelope(fileKey, FILE_META, bind, header.meta);
  if (!plain)
    throw new DecryptionError(`the meta of attachment ${id} does not decrypt`, {
      attachmentId: id,
    });
  let meta: unknown;
  try {
    meta = JSON.parse(fromUtf8(plain));
  } catch {
    meta = undefined;
  }
  const m = meta as Partial<FileMeta> | undefined;
  if (
    typeof m?.name !== 'string' ||
    typeof m.type !== 'string' ||
    !Number.isSafeInteger(m.size) ||
    (m.size as number) < 0
  )
    throw new DecryptionError(`the meta of attachment ${id} is malformed`, { attachmentId: id });
  return { fileKey, meta: { name: m.name, type: m.type, size: m.size as number } };
}

function contentKey(keys: UnlockedKeys, kid: string, attachmentId: string): Uint8Array {
  const key = keys.contentKeys.get(kid);
  if (!key)
    throw new DecryptionError(
      `attachment ${attachmentId} is under content key ${kid}, which this device does not hold`,
      {
        attachmentId,
      },
    );
  return key;
}

/**
 * `file` encrypted for upload as attachment `attachmentId`. The file key and prefix are chosen
 * now, so every pass (`sha256()`, `stream()`) gives the same bytes; the Blob is read one 4 MiB
 * slice at a time.
 */
export function encryptFile(
  keys: UnlockedKeys,
  attachmentId: string,
  file: Blob,
  meta: { name: string; type: string },
  options?: SealOptions,
): EncryptedFile {
  const binding = { userId: keys.userId, attachmentId };
  const key = keys.contentKeys.get(keys.currentKid);
  if (!key) throw new JournalError('validation_failed', `no content key ${keys.currentKid}`);
  const { header, fileKey } = newFileHeader(key, keys.currentKid, binding, {
    name: meta.name,
    type: meta.type,
    size: file.size,
  });
  return sealFile(encodeHeader(header), header, fileKey, binding, file, options);
}

/** Decrypts a stored attachment as it streams in (see `openFileStream`). */
export function decryptFileStream(
  keys: UnlockedKeys,
  attachmentId: string,
  source: ReadableStream<Uint8Array>,
): { meta: Promise<FileMeta>; stream: ReadableStream<Uint8Array> } {
  const binding = { userId: keys.userId, attachmentId };
  return openFileStream(binding, source, (header) =>
    openFileHeader(contentKey(keys, header.kid, attachmentId), binding, header),
  );
}

/** Reads a decrypted stream into a Blob of the given type (the parts are the chunks). */
export async function collect(stream: ReadableStream<Uint8Array>, type: string): Promise<Blob> {
  const parts: Blob[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read())
    parts.push(new Blob([r.value as Uint8Array<ArrayBuffer>]));
  return new Blob(parts, { type });
}

/** A whole stored attachment decrypted: its meta and a Blob of its real type. */
export async function decryptFile(
  keys: UnlockedKeys,
  attachmentId: string,
  source: Blob | ReadableStream<Uint8Array>,
): Promise<{ meta: FileMeta; blob: Blob }> {
  const stream = source instanceof ReadableStream ? source : source.stream();
  const opened = decryptFileStream(keys, attachmentId, stream);
  const [meta, blob] = await Promise.all([
    opened.meta,
    collect(opened.stream, 'application/octet-stream'),
  ]);
  return { meta, blob: new Blob([blob], { type: meta.type }) };
}

/** The meta (name, type, plaintext size) of an attachment from its header. */
export function decryptFileMeta(
  keys: UnlockedKeys,
  attachmentId: string,
  header: FileHeader,
): FileMeta {
  const binding = { userId: keys.userId, attachmentId };
  return openFileHeader(contentKey(keys, header.kid, attachmentId), binding, header).meta;
}

/**
 * For ranged reads: the stored chunks `firstChunk`… in `bytes` (as `cipherRangeFor` names
 * them) decrypted and joined; `lastChunkIndex` is the index of the file's last chunk.
 */
export function decryptChunks(
  keys: UnlockedKeys,
  attachmentId: string,
  header: FileHeader,
  firstChunk: number,
  lastChunkIndex: number,
  bytes: Uint8Array,
): Uint8Array {
  const binding = { userId: keys.userId, attachmentId };
  const { fileKey } = openFileHeader(contentKey(keys, header.kid, attachmentId), binding, header);
  return openChunkRun(
    fileKey,
    fromBase64url(header.prefix) as Uint8Array,
    binding,
    firstChunk,
    lastChunkIndex,
    bytes,
  );
}

export { ENCRYPTED_CONTENT_TYPE };
