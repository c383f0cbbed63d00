/**
 * Entries and envelopes (docs/encryption.md "The envelope", "What an entry's envelope holds"):
 * round trip, padding, the exact envelope shape, fresh nonces, and every tamper the AAD is there
 * to catch (bit flips, another entry, another account, another kid or version).
 */
import { describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/crypto/encoding.js';
import { decryptEntry, encryptEntry } from '../../src/crypto/entries.js';
import { type Envelope, isEnvelope } from '../../src/crypto/envelope.js';
import type { UnlockedKeys } from '../../src/crypto/keys.js';
import { DecryptionError, JournalError } from '../../src/errors.js';

function keysFor(userId: string, seed: number): UnlockedKeys {
  const key = new Uint8Array(32).fill(seed);
  return {
    userId,
    masterKey: new Uint8Array(32).fill(seed + 100),
    contentKeys: new Map([['kid-AAAAAAA', key]]),
    currentKid: 'kid-AAAAAAA',
  };
}

const alice = keysFor('alice', 1);
const content = { title: 'Tuesday', body: 'rain, then sun', mood: 3, tags: ['x'] };

function flip(b64: string, index: number): string {
  const bytes = fromBase64url(b64) as Uint8Array;
  bytes[index] = (bytes[index] as number) ^ 0x01;
  return toBase64url(bytes);
}

function expectDecryptionError(fn: () => unknown, entryId: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DecryptionError);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as DecryptionError).code).toBe('decryption_failed');
    expect((err as DecryptionError).entryId).toBe(entryId);
    return;
  }
  throw new Error('expected a DecryptionError');
}

describe('entry envelopes', () => {
  it('round-trip content and clientUpdatedAt (null too)', () => {
    const env = encryptEntry(alice, 'e1', content, '2026-01-02T03:04:05.000Z');
    expect(decryptEntry(alice, 'e1', env)).toEqual({
      content,
      clientUpdatedAt: '2026-01-02T03:04:05.000Z',
    });
    const env2 = encryptEntry(alice, 'e1', {}, null);
    expect(decryptEntry(alice, 'e1', env2)).toEqual({ content: {}, clientUpdatedAt: null });
  });

  it('are exactly the five fields, and survive JSON', () => {
    const env = encryptEntry(alice, 'e1', content, null);
    expect(Object.keys(env).sort()).toEqual(['alg', 'ct', 'kid', 'n', 'v']);
    expect(env.v).toBe(1);
    expect(env.alg).toBe('xchacha20-poly1305');
    expect(env.kid).toBe('kid-AAAAAAA');
    expect(fromBase64url(env.n)?.length).toBe(24);
    expect(isEnvelope(env)).toBe(true);
    const viaJson = JSON.parse(JSON.stringify(env)) as unknown;
    expect(decryptEntry(alice, 'e1', viaJson).content).toEqual(content);
  });

  it('pad the plaintext to a multiple of 256 bytes', () => {
    const sizes = new Set<number>();
    for (const n of [0, 1, 100, 200, 230, 231, 255, 256, 300, 1000, 5000]) {
      const env = encryptEntry(alice, 'e1', { body: 'x'.repeat(n) }, null);
      const ct = fromBase64url(env.ct) as Uint8Array;
      expect((ct.length - 16) % 256).toBe(0);
      sizes.add(ct.length);
      expect(decryptEntry(alice, 'e1', env).content).toEqual({ body: 'x'.repeat(n) });
    }
    // Bodies 0..200 all fit in one 256-byte block: the size does not tell them apart.
    const small = [0, 1, 100, 200].map((n) =>
      encryptEntry(alice, 'e', { body: 'x'.repeat(n) }, null),
    );
    expect(new Set(small.map((e) => e.ct.length)).size).toBe(1);
    expect(sizes.size).toBeGreaterThan(1);
  });

  it('use a fresh nonce every time: 100,000 envelopes, 100,000 nonces', () => {
    const nonces = new Set<string>();
    const small = { t: 'x' };
    for (let i = 0; i < 100_000; i++) nonces.add(encryptEntry(alice, 'e1', small, null).n);
    expect(nonces.size).toBe(100_000);
  }, 120_000);
});

describe('tampered entry envelopes are DecryptionError', () => {
  const env = encryptEntry(alice, 'e1', content, null);

  it('a flipped bit anywhere in ct (ciphertext or tag)', () => {
    const ctLength = (fromBase64url(env.ct) as Uint8Array).length;
    for (const i of [0, 1, 100, ctLength - 17, ctLength - 16, ctLength - 1]) {
      expectDecryptionError(() => decryptEntry(alice, 'e1', { ...env, ct: flip(env.ct, i) }), 'e1');
    }
  });

  it('a flipped bit in the nonce', () => {
    for (const i of [0, 12, 23]) {
      expectDecryptionError(() => decryptEntry(alice, 'e1', { ...env, n: flip(env.n, i) }), 'e1');
    }
  });

  it('an envelope moved to another entry', () => {
    expectDecryptionError(() => decryptEntry(alice, 'e2', env), 'e2');
  });

  it('an envelope moved to another account (same key, other userId)', () => {
    const mallory: UnlockedKeys = { ...alice, userId: 'mallory' };
    expectDecryptionError(() => decryptEntry(mallory, 'e1', env), 'e1');
  });

  it('another kid: one this device does not hold, or one it holds with another key', () => {
    expectDecryptionError(() => decryptEntry(alice, 'e1', { ...env, kid: 'kid-BBBBBBB' }), 'e1');
    const twoKeys: UnlockedKeys = {
      ...alice,
      contentKeys: new Map([
        ...alice.contentKeys,
        ['kid-BBBBBBB', alice.contentKeys.get('kid-AAAAAAA') as Uint8Array],
      ]),
    };
    // Same key bytes under another kid: the kid is in the AAD, so it still fails.
    expectDecryptionError(() => decryptEntry(twoKeys, 'e1', { ...env, kid: 'kid-BBBBBBB' }), 'e1');
  });

  it('another version or algorithm, or not an envelope at all', () => {
    const hostile: unknown[] = [
      { ...env, v: 2 },
      { ...env, alg: 'aes-256-gcm' },
      { ...env, extra: 1 },
      { v: env.v, alg: env.alg, kid: env.kid, n: env.n },
      { ...env, n: `${env.n}A` },
      { ...env, n: env.n.slice(0, 31) },
      { ...env, ct: 'AAAA' },
      { ...env, ct: `${env.ct}=` },
      { ...env, ct: env.ct.replace(/.$/, '!') },
      { ...env, kid: '' },
      { ...env, kid: 'a'.repeat(65) },
      null,
      'string',
      42,
      [env],
      { title: 'plaintext entry' },
      { $gt: '' },
    ];
    for (const h of hostile) expectDecryptionError(() => decryptEntry(alice, 'e1', h), 'e1');
  });

  it('a valid envelope of something that is not an entry plaintext', () => {
    const other = keysFor('alice', 1);
    // Another entry's envelope re-labelled is caught by the AAD; here the key itself differs.
    const wrongKey: UnlockedKeys = {
      ...other,
      contentKeys: new Map([['kid-AAAAAAA', new Uint8Array(32).fill(9)]]),
    };
    expectDecryptionError(() => decryptEntry(wrongKey, 'e1', env), 'e1');
  });
});

describe('isEnvelope', () => {
  const env: Envelope = encryptEntry(alice, 'e1', content, null);
  it('accepts exactly an envelope', () => {
    expect(isEnvelope(env)).toBe(true);
    expect(isEnvelope({ ...env, kid: 'password' })).toBe(true);
  });
  it('refuses near misses', () => {
    expect(isEnvelope({ ...env, v: '1' })).toBe(false);
    expect(isEnvelope({ ...env, ct: toBase64url(new Uint8Array(15)) })).toBe(false);
    expect(isEnvelope({ ...env, ct: toBase64url(new Uint8Array(16)) })).toBe(true);
    expect(isEnvelope({ ...env, n: toBase64url(new Uint8Array(23)) })).toBe(false);
    expect(isEnvelope({ ...env, n: env.n.replace(/./, '+') })).toBe(false);
    expect(isEnvelope(Object.assign(Object.create({ inherited: 1 }), env))).toBe(false);
    expect(isEnvelope(undefined)).toBe(false);
  });
});
