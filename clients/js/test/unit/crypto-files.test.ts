/**
 * Attachments in the chunked format (docs/encryption.md "Attachments: chunked stream format"):
 * round trips of every size class, the same bytes on every pass, one 4 MiB slice read at a
 * time, every tamper (reordered, truncated at a boundary and mid-chunk, a chunk from another
 * file, appended bytes, a swapped header, another attachment or account) as DecryptionError,
 * and ranged reads giving exactly the plaintext slice.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../src/crypto/encoding.js';
import {
  CHUNK_SIZE,
  cipherRangeFor,
  parseFileHeader,
  plainSizeFor,
} from '../../src/crypto/file-format.js';
import {
  decryptChunks,
  decryptFile,
  decryptFileMeta,
  decryptFileStream,
  encryptFile,
} from '../../src/crypto/files.js';
import type { UnlockedKeys } from '../../src/crypto/keys.js';
import { DecryptionError, JournalError } from '../../src/errors.js';

const keys: UnlockedKeys = {
  userId: 'alice',
  masterKey: new Uint8Array(32).fill(7),
  contentKeys: new Map([['kidAAAAAAAA', new Uint8Array(32).fill(1)]]),
  currentKid: 'kidAAAAAAAA',
};
const META = { name: 'photo.jpg', type: 'image/jpeg' };
const NINE_MIB = 9 * 1024 * 1024 + 12_345;
/** Files of several MiB through a pure-JS cipher on a shared 2-core machine. */
const SLOW = { timeout: 180_000 };

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * Byte strings compared as a whole (vitest's toEqual would walk and, on a failure, diff
 * megabytes element by element).
 */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  return concatBytes(...parts);
}

/** A stream of `data` in pieces of `size` bytes (as a network would cut it). */
function piecewise(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (offset >= data.length) return c.close();
      c.enqueue(data.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function encrypt(
  plain: Uint8Array,
  id = 'att-1',
  k: UnlockedKeys = keys,
): Promise<Uint8Array> {
  return drain(encryptFile(k, id, new Blob([plain]), META).stream());
}

async function decryptAll(
  cipher: Uint8Array,
  id = 'att-1',
  k: UnlockedKeys = keys,
  piece = 1 << 20,
) {
  const opened = decryptFileStream(k, id, piecewise(cipher, piece));
  const [meta, plain] = await Promise.all([opened.meta, drain(opened.stream)]);
  return { meta, plain };
}

async function expectDecryptionError(p: Promise<unknown>, attachmentId = 'att-1'): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DecryptionError);
  expect((err as DecryptionError).code).toBe('decryption_failed');
  expect((err as DecryptionError).attachmentId).toBe(attachmentId);
}

const big = bytes(NINE_MIB, 3);
const bigCipher = encrypt(big);
/** Another file of the same user and attachment id: two chunks. */
const otherCipher = encrypt(bytes(CHUNK_SIZE + 1000, 4));

/** Chunk boundaries of an encrypted file: [headerEnd, chunk ends…]. */
function layout(cipher: Uint8Array): { headerEnd: number; chunks: [number, number][] } {
  const { headerEnd } = parseFileHeader(cipher.subarray(0, 70_000));
  const chunks: [number, number][] = [];
  for (let at = headerEnd; at < cipher.length; at += CHUNK_SIZE + 16)
    chunks.push([at, Math.min(at + CHUNK_SIZE + 16, cipher.length)]);
  return { headerEnd, chunks };
}

describe('encryptFile / decryptFileStream', SLOW, () => {
  it('round-trip empty, 1 byte, 5,000 bytes, exactly one chunk, and ~9 MiB (3 chunks)', async () => {
    for (const size of [0, 1, 5000, CHUNK_SIZE]) {
      const plain = bytes(size, size + 1);
      const cipher = await encrypt(plain);
      const { meta, plain: back } = await decryptAll(cipher);
      expect(meta).toEqual({ ...META, size });
      expect(same(back, plain)).toBe(true);
    }
    const { meta, plain } = await decryptAll(await bigCipher);
    expect(meta.size).toBe(NINE_MIB);
    expect(same(plain, big)).toBe(true);
  });

  it('start with JRNLE2E1, size is what stream() gives, 3 chunks for ~9 MiB', async () => {
    const file = encryptFile(keys, 'att-1', new Blob([bytes(5000)]), META);
    const small = await drain(file.stream());
    expect(small.length).toBe(file.size);
    expect(file.contentType).toBe('application/vnd.journal.encrypted');
    const cipher = await bigCipher;
    expect(new TextDecoder().decode(cipher.subarray(0, 8))).toBe('JRNLE2E1');
    const { headerEnd, chunks } = layout(cipher);
    expect(chunks).toHaveLength(3);
    expect(cipher.length).toBe(headerEnd + NINE_MIB + 3 * 16);
    expect(plainSizeFor(headerEnd, cipher.length)).toBe(NINE_MIB);
  });

  it('decrypt a stream cut into small pieces', async () => {
    const plain = bytes(70_000, 5);
    const { plain: back } = await decryptAll(await encrypt(plain), 'att-1', keys, 999);
    expect(same(back, plain)).toBe(true);
  });

  it('give the same bytes on every pass, and sha256() is their digest', async () => {
    const twoChunks = bytes(CHUNK_SIZE + 100, 6);
    const file = encryptFile(keys, 'att-1', new Blob([twoChunks]), META);
    const a = await drain(file.stream());
    const b = await drain(file.stream());
    expect(same(b, a)).toBe(true);
    const digest = Buffer.from(await crypto.subtle.digest('SHA-256', a)).toString('hex');
    expect(await file.sha256()).toBe(digest);
    // Another call of encryptFile chooses another file key: other bytes.
    const c = await drain(encryptFile(keys, 'att-1', new Blob([twoChunks]), META).stream());
    expect(same(c, a)).toBe(false);
  });

  it('blob(): not_ready before a complete pass; then the same bytes (keepParts)', async () => {
    const file = encryptFile(keys, 'att-1', new Blob([bytes(5000)]), META, { keepParts: true });
    expect(() => file.blob()).toThrow(JournalError);
    const digest = await file.sha256();
    const blob = file.blob();
    expect(blob.type).toBe('application/vnd.journal.encrypted');
    const fromBlob = new Uint8Array(await blob.arrayBuffer());
    expect(same(fromBlob, await drain(file.stream()))).toBe(true);
    expect(Buffer.from(await crypto.subtle.digest('SHA-256', fromBlob)).toString('hex')).toBe(
      digest,
    );
  });

  it('read the Blob one 4 MiB slice at a time, only as the stream is read', async () => {
    const slices: [number, number][] = [];
    class Spy extends Blob {
      override slice(start?: number, end?: number): Blob {
        slices.push([start ?? 0, end ?? this.size]);
        return super.slice(start, end);
      }
    }
    const file = encryptFile(keys, 'att-1', new Spy([big]), META);
    const reader = file.stream().getReader();
    await reader.read(); // the header
    await reader.read(); // chunk 0
    expect(slices).toEqual([[0, CHUNK_SIZE]]);
    while (!(await reader.read()).done) {
      /* the rest */
    }
    expect(slices).toEqual([
      [0, CHUNK_SIZE],
      [CHUNK_SIZE, 2 * CHUNK_SIZE],
      [2 * CHUNK_SIZE, NINE_MIB],
    ]);
  });

  it('decryptFile takes a Blob or a stream and gives the real type', async () => {
    const cipher = await bigCipher;
    const fromBlob = await decryptFile(keys, 'att-1', new Blob([cipher]));
    expect(fromBlob.meta).toEqual({ ...META, size: NINE_MIB });
    expect(fromBlob.blob.type).toBe('image/jpeg');
    expect(same(new Uint8Array(await fromBlob.blob.arrayBuffer()), big)).toBe(true);
    const small = bytes(3000, 8);
    const fromStream = await decryptFile(keys, 'att-1', piecewise(await encrypt(small), 100));
    expect(same(new Uint8Array(await fromStream.blob.arrayBuffer()), small)).toBe(true);
  });
});

describe('tampered files are DecryptionError', SLOW, () => {
  it('a chunk reordered', async () => {
    const cipher = await bigCipher;
    const { headerEnd, chunks } = layout(cipher);
    const [c0, c1, c2] = chunks.map(([a, b]) => cipher.subarray(a, b)) as [
      Uint8Array,
      Uint8Array,
      Uint8Array,
    ];
    const swapped = concatBytes(cipher.subarray(0, headerEnd), c1, c0, c2);
    await expectDecryptionError(decryptAll(swapped));
  });

  it('truncated at a chunk boundary (the new last chunk was not sealed as final)', async () => {
    const cipher = await bigCipher;
    const { chunks } = layout(cipher);
    await expectDecryptionError(decryptAll(cipher.subarray(0, (chunks[1] as [number, number])[1])));
    await expectDecryptionError(decryptAll(cipher.subarray(0, (chunks[0] as [number, number])[1])));
    await expectDecryptionError(decryptAll(cipher.subarray(0, (chunks[0] as [number, number])[0])));
  });

  it('truncated mid-chunk, or inside the header', async () => {
    const cipher = await bigCipher;
    const { headerEnd, chunks } = layout(cipher);
    await expectDecryptionError(
      decryptAll(cipher.subarray(0, (chunks[1] as [number, number])[0] + 1000)),
    );
    await expectDecryptionError(decryptAll(cipher.subarray(0, cipher.length - 1)));
    await expectDecryptionError(decryptAll(cipher.subarray(0, headerEnd - 10)));
    await expectDecryptionError(decryptAll(cipher.subarray(0, 5)));
  });

  it('a chunk moved from another file (same user, same attachment id)', async () => {
    const cipher = await bigCipher;
    const other = await otherCipher;
    const a = layout(cipher);
    const b = layout(other);
    const [b0, b1] = b.chunks[1] as [number, number];
    const mixed = concatBytes(
      cipher.subarray(0, (a.chunks[1] as [number, number])[0]),
      other.subarray(b0, b1),
      cipher.subarray((a.chunks[2] as [number, number])[0]),
    );
    await expectDecryptionError(decryptAll(mixed));
  });

  it('appended bytes', async () => {
    const cipher = await bigCipher;
    await expectDecryptionError(decryptAll(concatBytes(cipher, new Uint8Array([0]))));
    const small = await encrypt(bytes(10));
    await expectDecryptionError(decryptAll(concatBytes(small, small)));
  });

  it("another file's header on these chunks", async () => {
    const cipher = await bigCipher;
    const other = await otherCipher;
    const a = layout(cipher);
    const b = layout(other);
    const swapped = concatBytes(other.subarray(0, b.headerEnd), cipher.subarray(a.headerEnd));
    await expectDecryptionError(decryptAll(swapped));
  });

  it('a flipped bit in a chunk, the header JSON, or the magic', async () => {
    const cipher = await bigCipher;
    const { headerEnd, chunks } = layout(cipher);
    for (const at of [
      (chunks[2] as [number, number])[0] + 5,
      cipher.length - 1,
      headerEnd - 30,
      2,
    ]) {
      const copy = cipher.slice();
      copy[at] = (copy[at] as number) ^ 0x04;
      await expectDecryptionError(decryptAll(copy));
    }
  });

  it('opened as another attachment, by another account, or without the content key', async () => {
    const cipher = await bigCipher;
    await expectDecryptionError(decryptAll(cipher, 'att-2'), 'att-2');
    await expectDecryptionError(decryptAll(cipher, 'att-1', { ...keys, userId: 'mallory' }));
    await expectDecryptionError(decryptAll(cipher, 'att-1', { ...keys, contentKeys: new Map() }));
  });

  it('errors meta too when the header does not open, and the whole-file call', async () => {
    const cipher = await bigCipher;
    const opened = decryptFileStream(keys, 'att-2', piecewise(cipher, 65_536));
    await expectDecryptionError(opened.meta, 'att-2');
    await expectDecryptionError(drain(opened.stream), 'att-2');
    await expectDecryptionError(
      decryptFile(keys, 'att-1', new Blob([cipher.subarray(0, cipher.length - 16)])),
    );
    await expectDecryptionError(
      decryptFile(keys, 'att-1', new Blob([new TextEncoder().encode('plain text file')])),
    );
  });
});

describe('ranged reads', SLOW, () => {
  async function readRange(
    cipher: Uint8Array,
    start: number,
    end: number,
    id = 'att-1',
  ): Promise<Uint8Array> {
    const { header, headerEnd } = parseFileHeader(cipher.subarray(0, 64 * 1024 + 12));
    const plainSize = decryptFileMeta(keys, id, header).size;
    const r = cipherRangeFor(header, headerEnd, plainSize, start, end);
    const lastChunkIndex = Math.max(0, Math.ceil(plainSize / CHUNK_SIZE) - 1);
    const plain = decryptChunks(
      keys,
      id,
      header,
      r.firstChunk,
      lastChunkIndex,
      cipher.slice(r.start, r.end + 1),
    );
    return plain.subarray(r.skip, r.skip + (end - start + 1));
  }

  it('give exactly the plaintext slice: inside a chunk, across chunks, the final chunk, all', async () => {
    const cipher = await bigCipher;
    const ranges: [number, number][] = [
      [0, 0],
      [0, 99],
      [1000, 1_000_000],
      [CHUNK_SIZE - 10, CHUNK_SIZE + 10],
      [CHUNK_SIZE, CHUNK_SIZE],
      [100, 2 * CHUNK_SIZE + 100],
      [2 * CHUNK_SIZE, NINE_MIB - 1],
      [NINE_MIB - 1, NINE_MIB - 1],
      [NINE_MIB - 500, NINE_MIB - 1],
      [0, NINE_MIB - 1],
    ];
    for (const [s, e] of ranges)
      expect(same(await readRange(cipher, s, e), big.subarray(s, e + 1))).toBe(true);
  });

  it('fetch only the chunks that cover the range', async () => {
    const cipher = await bigCipher;
    const { header, headerEnd } = parseFileHeader(cipher.subarray(0, 64 * 1024 + 12));
    const r = cipherRangeFor(header, headerEnd, NINE_MIB, CHUNK_SIZE + 5, CHUNK_SIZE + 6);
    expect(r.firstChunk).toBe(1);
    expect(r.lastChunk).toBe(1);
    expect(r.end - r.start + 1).toBe(CHUNK_SIZE + 16);
    expect(r.skip).toBe(5);
    const last = cipherRangeFor(header, headerEnd, NINE_MIB, NINE_MIB - 1, NINE_MIB - 1);
    expect(last.end).toBe(cipher.length - 1);
  });

  it('a small file: one final chunk', async () => {
    const plain = bytes(3000, 9);
    const cipher = await encrypt(plain);
    expect(same(await readRange(cipher, 10, 20), plain.subarray(10, 21))).toBe(true);
    expect(same(await readRange(cipher, 2999, 2999), plain.subarray(2999))).toBe(true);
  });

  it('outside the file is range_not_satisfiable', async () => {
    const cipher = await bigCipher;
    const { header, headerEnd } = parseFileHeader(cipher.subarray(0, 64 * 1024 + 12));
    for (const [s, e] of [
      [-1, 5],
      [5, 4],
      [0, NINE_MIB],
      [0.5, 3],
    ] as [number, number][]) {
      expect(() => cipherRangeFor(header, headerEnd, NINE_MIB, s, e)).toThrow(
        expect.objectContaining({ code: 'range_not_satisfiable' }),
      );
    }
  });

  it('chunks given at the wrong index, a non-final chunk as final, or cut short: DecryptionError', () =>
    bigCipher.then((cipher) => {
      const { header } = parseFileHeader(cipher.subarray(0, 64 * 1024 + 12));
      const { chunks } = layout(cipher);
      const [s1, e1] = chunks[1] as [number, number];
      const chunk1 = cipher.slice(s1, e1);
      expect(() => decryptChunks(keys, 'att-1', header, 1, 2, chunk1)).not.toThrow();
      expect(() => decryptChunks(keys, 'att-1', header, 0, 2, chunk1)).toThrow(DecryptionError);
      expect(() => decryptChunks(keys, 'att-1', header, 1, 1, chunk1)).toThrow(DecryptionError);
      expect(() => decryptChunks(keys, 'att-1', header, 1, 2, chunk1.subarray(0, 100))).toThrow(
        DecryptionError,
      );
      expect(() => decryptChunks(keys, 'att-2', header, 1, 2, chunk1)).toThrow(DecryptionError);
    }));
});
