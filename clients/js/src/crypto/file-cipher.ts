/**
 * The chunk cipher of the attachment format, shared by attachments (files.ts) and encrypted
 * exports (passphrase-export.ts): sealing a Blob one 4 MiB slice at a time, and opening a
 * stream one chunk at a time (flat memory either way).
 */
import { DecryptionError, JournalError } from '../errors.js';
import { ByteQueue } from './byte-queue.js';
import { concatBytes, fromBase64url, readUint32be, toHex } from './encoding.js';
import { ENCRYPTED_CONTENT_TYPE } from './envelope.js';
import {
  CHUNK_SIZE,
  chunkAad,
  chunkCount,
  chunkNonce,
  chunkPlainLength,
  type FileBinding,
  type FileHeader,
  type FileMeta,
  MAX_HEADER_BYTES,
  PREAMBLE_BYTES,
  parseFileHeader,
} from './file-format.js';
import { aeadOpen, aeadSeal, sha256Hasher, TAG_BYTES } from './primitives.js';

export interface EncryptedFile {
  /** Bytes of the encrypted file (header and chunks). */
  size: number;
  contentType: typeof ENCRYPTED_CONTENT_TYPE;
  /** The encrypted file, produced one chunk at a time; the same bytes on every call. */
  stream(): ReadableStream<Uint8Array>;
  /** SHA-256 (hex) of the encrypted file, in one pass. */
  sha256(): Promise<string>;
  /**
   * The encrypted file as a Blob built from the chunks of the last complete pass (`sha256()`
   * or `stream()` read to the end), for browsers' uploads. Kept by default where a browser's
   * Blob store can hold them (not in Node, where `stream()` is the upload body; pass
   * `keepParts: true` to keep them there too). `not_ready` before such a pass.
   */
  blob(): Blob;
}

export interface SealOptions {
  /** Keep each pass's chunks for `blob()` (default: true except in Node). */
  keepParts?: boolean;
}

function runningInNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: unknown } }; window?: unknown };
  return typeof g.process?.versions?.node === 'string' && g.window === undefined;
}

/** The encrypted form of `file`: header bytes then its chunks sealed with `fileKey`. */
export function sealFile(
  headerBytes: Uint8Array,
  header: FileHeader,
  fileKey: Uint8Array,
  binding: FileBinding,
  file: Blob,
  options: SealOptions = {},
): EncryptedFile {
  const plainSize = file.size;
  const n = chunkCount(plainSize);
  const prefix = fromBase64url(header.prefix) as Uint8Array;
  const keepParts = options.keepParts ?? !runningInNode();
  let lastParts: Blob[] | undefined;

  const stream = (): ReadableStream<Uint8Array> => {
    let i = -1;
    const parts: Blob[] | undefined = keepParts
      ? [new Blob([headerBytes as Uint8Array<ArrayBuffer>])]
      : undefined;
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (i === -1) {
            i = 0;
            controller.enqueue(headerBytes.slice());
            return;
          }
          if (i >= n) {
            if (parts) lastParts = parts;
            controller.close();
            return;
          }
          const from = i * CHUNK_SIZE;
          const length = chunkPlainLength(plainSize, i);
          const plain = new Uint8Array(await file.slice(from, from + length).arrayBuffer());
          if (plain.length !== length)
            throw new JournalError('validation_failed', 'the file changed while it was encrypted');
          const sealed = aeadSeal(
            fileKey,
            chunkNonce(prefix, i),
            chunkAad(binding, i, i === n - 1),
            plain,
          );
          plain.fill(0);
          if (parts) parts.push(new Blob([sealed as Uint8Array<ArrayBuffer>]));
          i++;
          controller.enqueue(sealed);
        },
      },
      { highWaterMark: 0 },
    );
  };

  return {
    size: headerBytes.length + plainSize + n * TAG_BYTES,
    contentType: ENCRYPTED_CONTENT_TYPE,
    stream,
    async sha256() {
      const hash = sha256Hasher();
      const reader = stream().getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) hash.update(r.value);
      return toHex(hash.digest());
    },
    blob() {
      if (!lastParts)
        throw new JournalError(
          'not_ready',
          keepParts
            ? 'blob() needs a complete pass first: sha256() or stream() read to the end'
            : 'blob() needs keepParts: true (in Node, upload stream() instead)',
        );
      return new Blob(lastParts, { type: ENCRYPTED_CONTENT_TYPE });
    },
  };
}

/** What opening a header gives: the file key and the decrypted meta. */
export interface OpenedHeader {
  fileKey: Uint8Array;
  meta: FileMeta;
}

function asDecryptionError(err: unknown, attachmentId: string): unknown {
  if (err instanceof JournalError) return err;
  return new DecryptionError(`attachment ${attachmentId} does not decrypt`, {
    attachmentId,
    cause: err,
  });
}

/** Chunk `i` opened; DecryptionError when it does not authenticate as chunk i (final or not). */
export function openChunk(
  fileKey: Uint8Array,
  prefix: Uint8Array,
  binding: FileBinding,
  i: number,
  final: boolean,
  sealed: Uint8Array,
): Uint8Array {
  try {
    return aeadOpen(fileKey, chunkNonce(prefix, i), chunkAad(binding, i, final), sealed);
  } catch (cause) {
    throw new DecryptionError(`chunk ${i} of attachment ${binding.attachmentId} does not decrypt`, {
      attachmentId: binding.attachmentId,
      cause,
    });
  }
}

/**
 * Decrypts an encrypted file as it streams in: `meta` once the header is read and opened (read
 * at once, whether or not `stream` is read), `stream` the plaintext one chunk at a time. Tamper,
 * truncation or appended bytes error the stream (and `meta`, when in the header) with
 * DecryptionError.
 */
export function openFileStream(
  binding: FileBinding,
  source: ReadableStream<Uint8Array>,
  openHeader: (header: FileHeader) => OpenedHeader | Promise<OpenedHeader>,
): { meta: Promise<FileMeta>; stream: ReadableStream<Uint8Array> } {
  const id = binding.attachmentId;
  const queue = new ByteQueue(source.getReader());
  const ready = (async () => {
    if (!(await queue.fill(PREAMBLE_BYTES)))
      throw new DecryptionError(`attachment ${id} is too short`, { attachmentId: id });
    const preamble = queue.take(PREAMBLE_BYTES);
    const length = Math.min(readUint32be(preamble, 8), MAX_HEADER_BYTES + 1);
    await queue.fill(length);
    const rest = queue.take(Math.min(length, queue.length));
    const { header } = parseFileHeader(concatBytes(preamble, rest), id);
    const opened = await openHeader(header);
    return { ...opened, prefix: fromBase64url(header.prefix) as Uint8Array };
  })().catch((err: unknown) => {
    void queue.cancel();
    throw asDecryptionError(err, id);
  });
  const meta = ready.then((r) => r.meta);
  meta.catch(() => undefined);

  let i = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { fileKey, meta: m, prefix } = await ready;
        const n = chunkCount(m.size);
        const length = chunkPlainLength(m.size, i) + TAG_BYTES;
        if (!(await queue.fill(length))) {
          await queue.cancel();
          throw new DecryptionError(`attachment ${id} is truncated at chunk ${i}`, {
            attachmentId: id,
          });
        }
        const plain = openChunk(fileKey, prefix, binding, i, i === n - 1, queue.take(length));
        i++;
        if (i === n) {
          if (await queue.fill(1)) {
            await queue.cancel();
            throw new DecryptionError(`attachment ${id} has bytes after its final chunk`, {
              attachmentId: id,
            });
          }
          if (plain.length > 0) controller.enqueue(plain);
          controller.close();
          return;
        }
        controller.enqueue(plain);
      },
      cancel(reason) {
        return queue.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { meta, stream };
}

/**
 * Consecutive stored chunks `firstChunk`… in `bytes` (whole chunks, as `cipherRangeFor` names
 * them) opened and joined; `lastChunkIndex` is the file's last chunk (sealed as final).
 */
export function openChunkRun(
  fileKey: Uint8Array,
  prefix: Uint8Array,
  binding: FileBinding,
  firstChunk: number,
  lastChunkIndex: number,
  bytes: Uint8Array,
): Uint8Array {
  const stride = CHUNK_SIZE + TAG_BYTES;
  const out: Uint8Array[] = [];
  let offset = 0;
  let i = firstChunk;
  while (offset < bytes.length) {
    if (i > lastChunkIndex)
      throw new DecryptionError(
        `bytes after the final chunk of attachment ${binding.attachmentId}`,
        {
          attachmentId: binding.attachmentId,
        },
      );
    const final = i === lastChunkIndex;
    const end = final ? bytes.length : offset + stride;
    if (end > bytes.length || end - offset < TAG_BYTES)
      throw new DecryptionError(`chunk ${i} of attachment ${binding.attachmentId} is cut short`, {
        attachmentId: binding.attachmentId,
      });
    out.push(openChunk(fileKey, prefix, binding, i, final, bytes.subarray(offset, end)));
    offset = end;
    i++;
  }
  return concatBytes(...out);
}
