/**
 * The attachment stream format (docs/encryption.md "Attachments: chunked stream format"):
 * `"JRNLE2E1" | uint32-be header length | header JSON | chunk 0 | … | chunk n-1`, chunk i the
 * plaintext bytes [i·4 MiB, (i+1)·4 MiB) sealed with the file key, nonce `prefix ‖ uint64-be(i)`
 * and AAD `["journal/e2e/chunk", 1, userId, attachmentId, i, final]`.
 */
import { DecryptionError, JournalError } from '../errors.js';
import {
  concatBytes,
  fromBase64url,
  fromUtf8,
  readUint32be,
  uint32be,
  uint64be,
  utf8,
} from './encoding.js';
import { type Envelope, isEnvelope, isKid } from './envelope.js';
import { checkKdfParams, type KdfParams } from './kdf.js';
import { TAG_BYTES } from './primitives.js';

export const FILE_MAGIC = 'JRNLE2E1';
const MAGIC_BYTES = utf8(FILE_MAGIC);
export const FILE_ALG = 'xchacha20-poly1305-chunked';
export const CHUNK_SIZE = 4 * 1024 * 1024;
export const MAX_HEADER_BYTES = 64 * 1024;
/** Magic and header length. */
export const PREAMBLE_BYTES = 12;
export const PREFIX_BYTES = 16;

export interface FileHeader {
  v: 1;
  alg: 'xchacha20-poly1305-chunked';
  chunkSize: number;
  kid: string;
  prefix: string;
  fileKey: Envelope;
  meta: Envelope;
  /** Only in a passphrase-encrypted export: the Argon2id parameters of its key. */
  kdf?: KdfParams;
}

export interface FileMeta {
  name: string;
  type: string;
  size: number;
}

/** Who a file is bound to: the user and the attachment (an export: "" and "export"). */
export interface FileBinding {
  userId: string;
  attachmentId: string;
}

/** The preamble and header as bytes. */
export function encodeHeader(header: FileHeader): Uint8Array {
  const json = utf8(JSON.stringify(header));
  if (json.length > MAX_HEADER_BYTES)
    throw new JournalError('validation_failed', 'file header over 64 KiB');
  return concatBytes(MAGIC_BYTES, uint32be(json.length), json);
}

function bad(detail: string, attachmentId?: string): DecryptionError {
  return new DecryptionError(
    `not an encrypted file: ${detail}`,
    attachmentId === undefined ? {} : { attachmentId },
  );
}

const HEADER_KEYS = ['alg', 'chunkSize', 'fileKey', 'kid', 'meta', 'prefix', 'v'];

/** The header's fields checked exactly (no other field); DecryptionError otherwise. */
export function checkHeader(x: unknown, attachmentId?: string): FileHeader {
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    throw bad('header is not an object', attachmentId);
  const h = x as Record<string, unknown>;
  const keys = Object.keys(h)
    .filter((k) => k !== 'kdf')
    .sort();
  if (keys.length !== HEADER_KEYS.length || keys.some((k, i) => k !== HEADER_KEYS[i]))
    throw bad('header fields', attachmentId);
  if (h.v !== 1 || h.alg !== FILE_ALG || h.chunkSize !== CHUNK_SIZE)
    throw bad('header version', attachmentId);
  if (
    !isKid(h.kid) ||
    typeof h.prefix !== 'string' ||
    fromBase64url(h.prefix)?.length !== PREFIX_BYTES
  )
    throw bad('header kid or prefix', attachmentId);
  if (
    !isEnvelope(h.fileKey) ||
    !isEnvelope(h.meta) ||
    h.fileKey.kid !== h.kid ||
    h.meta.kid !== 'file'
  )
    throw bad('header envelopes', attachmentId);
  const header: FileHeader = {
    v: 1,
    alg: FILE_ALG,
    chunkSize: CHUNK_SIZE,
    kid: h.kid,
    prefix: h.prefix,
    fileKey: h.fileKey,
    meta: h.meta,
  };
  if ('kdf' in h) {
    try {
      header.kdf = checkKdfParams(h.kdf);
    } catch (cause) {
      if (cause instanceof JournalError && cause.code === 'weak_key_params') throw cause;
      throw bad('header kdf', attachmentId);
    }
  }
  return header;
}

/**
 * The header of an encrypted file from its first bytes (at most 64 KiB + 12 are needed) and
 * where the chunks start. DecryptionError when the bytes are not such a file or are too few.
 */
export function parseFileHeader(
  bytes: Uint8Array,
  attachmentId?: string,
): { header: FileHeader; headerEnd: number } {
  if (bytes.length < PREAMBLE_BYTES) throw bad('too short', attachmentId);
  for (let i = 0; i < MAGIC_BYTES.length; i++)
    if (bytes[i] !== MAGIC_BYTES[i]) throw bad(`does not start with ${FILE_MAGIC}`, attachmentId);
  const length = readUint32be(bytes, 8);
  if (length > MAX_HEADER_BYTES) throw bad('header over 64 KiB', attachmentId);
  const headerEnd = PREAMBLE_BYTES + length;
  if (bytes.length < headerEnd) throw bad('header cut short', attachmentId);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(bytes.subarray(PREAMBLE_BYTES, headerEnd)));
  } catch {
    throw bad('header is not JSON', attachmentId);
  }
  return { header: checkHeader(parsed, attachmentId), headerEnd };
}

/** How many chunks a plaintext of `size` bytes has (an empty file has one, empty). */
export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_SIZE));
}

/** Plaintext length of chunk `i` of a file of `size` bytes. */
export function chunkPlainLength(size: number, i: number): number {
  return Math.max(0, Math.min(CHUNK_SIZE, size - i * CHUNK_SIZE));
}

/** Stored size of a file of `size` plaintext bytes with a header ending at `headerEnd`. */
export function cipherSizeFor(headerEnd: number, size: number): number {
  return headerEnd + size + chunkCount(size) * TAG_BYTES;
}

/** The plaintext size of a stored file of `cipherSize` bytes; undefined if no size fits. */
export function plainSizeFor(headerEnd: number, cipherSize: number): number | undefined {
  const body = cipherSize - headerEnd;
  if (body < TAG_BYTES) return undefined;
  const n = Math.max(1, Math.ceil(body / (CHUNK_SIZE + TAG_BYTES)));
  const size = body - n * TAG_BYTES;
  return size >= 0 && chunkCount(size) === n ? size : undefined;
}

export function chunkNonce(prefix: Uint8Array, i: number): Uint8Array {
  return concatBytes(prefix, uint64be(i));
}

export function chunkAad(binding: FileBinding, i: number, final: boolean): Uint8Array {
  return utf8(
    JSON.stringify(['journal/e2e/chunk', 1, binding.userId, binding.attachmentId, i, final]),
  );
}

/**
 * The stored bytes [start, end] (inclusive) that hold plaintext bytes [start, endInclusive] of
 * a file of `plainSize` bytes: whole chunks firstChunk..lastChunk; `skip` plaintext bytes of
 * the first chunk precede the range. `range_not_satisfiable` for a range outside the file.
 */
export function cipherRangeFor(
  header: FileHeader,
  headerEnd: number,
  plainSize: number,
  start: number,
  endInclusive: number,
): { start: number; end: number; firstChunk: number; lastChunk: number; skip: number } {
  const cs = header.chunkSize;
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(endInclusive) ||
    start < 0 ||
    endInclusive < start ||
    endInclusive >= plainSize
  )
    throw new JournalError(
      'range_not_satisfiable',
      `bytes ${start}-${endInclusive} of ${plainSize}`,
    );
  const firstChunk = Math.floor(start / cs);
  const lastChunk = Math.floor(endInclusive / cs);
  const stride = cs + TAG_BYTES;
  const lastLength = chunkPlainLength(plainSize, lastChunk) + TAG_BYTES;
  return {
    start: headerEnd + firstChunk * stride,
    end: headerEnd + lastChunk * stride + lastLength - 1,
    firstChunk,
    lastChunk,
    skip: start - firstChunk * cs,
  };
}
