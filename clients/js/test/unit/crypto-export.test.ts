/**
 * Passphrase-encrypted exports (docs/encryption.md "Export"): the attachment format with its key
 * from Argon2id of the passphrase, the parameters in the header. Round trips, the refusals
 * (wrong_passphrase, weak_key_params, DecryptionError) and what the header says.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../src/crypto/encoding.js';
import { CHUNK_SIZE, parseFileHeader } from '../../src/crypto/file-format.js';
import { encryptFile } from '../../src/crypto/files.js';
import type { UnlockedKeys } from '../../src/crypto/keys.js';
import {
  decryptWithPassphrase,
  encryptWithPassphrase,
} from '../../src/crypto/passphrase-export.js';
import { DecryptionError, JournalError } from '../../src/errors.js';

/** Argon2id of 64 MiB per derivation on a shared 2-core machine. */
const SLOW = { timeout: 180_000 };
const PASS = 'export passphrase ☃';

function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function raw(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

const zip = bytes(CHUNK_SIZE + 70_000, 11);
const sealed = encryptWithPassphrase(new Blob([zip], { type: 'application/zip' }), PASS);

describe('encryptWithPassphrase / decryptWithPassphrase', SLOW, () => {
  it('round-trip a two-chunk file, of its type', async () => {
    const cipher = await sealed;
    expect(cipher.type).toBe('application/vnd.journal.encrypted');
    expect(cipher.size).toBeGreaterThan(zip.length + 32);
    const back = await decryptWithPassphrase(cipher, PASS);
    expect(back.type).toBe('application/zip');
    expect(same(await raw(back), zip)).toBe(true);
  });

  it('round-trip an empty file, and accept the passphrase in another Unicode form (NFKC)', async () => {
    const cipher = await encryptWithPassphrase(new Blob([]), 'ｐａｓｓ word');
    const back = await decryptWithPassphrase(cipher, 'pass word');
    expect(back.size).toBe(0);
  });

  it('write the Argon2id parameters (defaults, a fresh salt) and kid export in the header', async () => {
    const a = parseFileHeader(await raw((await sealed).slice(0, 70_000))).header;
    const b = parseFileHeader(
      await raw((await encryptWithPassphrase(new Blob(['x']), PASS)).slice(0, 70_000)),
    ).header;
    expect(a.kid).toBe('export');
    expect(a.kdf).toMatchObject({ alg: 'argon2id', m: 65536, t: 3, p: 1 });
    expect(b.kdf?.salt).not.toBe(a.kdf?.salt);
  });

  it('refuse another passphrase: wrong_passphrase', async () => {
    const err = await failure(decryptWithPassphrase(await sealed, `${PASS}!`));
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe('wrong_passphrase');
    const empty = await failure(decryptWithPassphrase(await sealed, ''));
    expect((empty as JournalError).code).toBe('wrong_passphrase');
  });

  it('refuse an empty passphrase when encrypting', async () => {
    const err = await failure(encryptWithPassphrase(new Blob(['x']), ''));
    expect((err as JournalError).code).toBe('validation_failed');
  });

  it('refuse a header whose parameters were lowered: weak_key_params, before any derivation', async () => {
    const cipher = await raw(await sealed);
    const text = new TextDecoder('latin1').decode(cipher.subarray(0, 2000));
    const at = text.indexOf('"m":65536');
    expect(at).toBeGreaterThan(0);
    const lowered = cipher.slice();
    lowered.set(new TextEncoder().encode('"m":10000'), at);
    const err = await failure(decryptWithPassphrase(new Blob([lowered]), PASS));
    expect((err as JournalError).code).toBe('weak_key_params');
  });

  it('a tampered or truncated export, or an attachment, is DecryptionError', async () => {
    const cipher = await raw(await sealed);
    const flipped = cipher.slice();
    flipped[cipher.length - 100] = (flipped[cipher.length - 100] as number) ^ 1;
    const cases: Uint8Array[] = [
      flipped,
      cipher.subarray(0, cipher.length - 1),
      cipher.subarray(0, cipher.length - (70_000 + 16)),
      concatBytes(cipher, new Uint8Array(1)),
      new TextEncoder().encode('PK\u0003\u0004 a plain zip'),
    ];
    for (const c of cases) {
      const err = await failure(
        decryptWithPassphrase(new Blob([c as Uint8Array<ArrayBuffer>]), PASS),
      );
      expect(err).toBeInstanceOf(DecryptionError);
    }
    const keys: UnlockedKeys = {
      userId: 'u',
      masterKey: new Uint8Array(32),
      contentKeys: new Map([['kidAAAAAAAA', new Uint8Array(32).fill(2)]]),
      currentKid: 'kidAAAAAAAA',
    };
    const attachment = encryptFile(keys, 'a', new Blob(['hello']), { name: 'n', type: 't' });
    const chunks: Uint8Array[] = [];
    const reader = attachment.stream().getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    const err = await failure(
      decryptWithPassphrase(new Blob([concatBytes(...chunks) as Uint8Array<ArrayBuffer>]), PASS),
    );
    expect(err).toBeInstanceOf(DecryptionError);
  });
});
