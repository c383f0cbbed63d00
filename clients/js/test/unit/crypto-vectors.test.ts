/**
 * Known-answer vectors of the primitives docs/encryption.md builds on, through the SDK's own
 * wrappers (src/crypto/primitives.ts) where they take the vector's inputs, else through the
 * library they wrap:
 * - XChaCha20-Poly1305: draft-irtf-cfrg-xchacha-03, appendix A.3.1;
 * - HKDF-SHA256: RFC 5869, test cases 1-3;
 * - Argon2id: RFC 9106 section 5.3 (secret and associated data: only @noble/hashes takes them),
 *   the reference implementation's m=65536 t=2 p=1 "password"/"somesalt" (phc-winner-argon2
 *   src/test.c), and hash-wasm (what the SDK runs) equal to @noble/hashes on the same input.
 */

import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { aeadOpen, aeadSeal, argon2id, hkdfKey } from '../../src/crypto/primitives.js';

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fill(length: number, byte: number): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('XChaCha20-Poly1305, draft-irtf-cfrg-xchacha-03 A.3.1', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const nonce = hex('404142434445464748494a4b4c4d4e4f5051525354555657');
  const aad = hex('50515253c0c1c2c3c4c5c6c7');
  const plaintext = ascii(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const ciphertext =
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb' +
    '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
    '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e';
  const tag = 'c0875924c1c7987947deafd8780acf49';

  it('seals to the published ciphertext followed by the tag', () => {
    expect(toHex(aeadSeal(key, nonce, aad, plaintext))).toBe(ciphertext + tag);
  });

  it('opens the published ciphertext', () => {
    expect(aeadOpen(key, nonce, aad, hex(ciphertext + tag))).toEqual(plaintext);
  });

  it('refuses it with a flipped bit in the tag, the ciphertext or the AAD', () => {
    const sealed = hex(ciphertext + tag);
    const badTag = sealed.slice();
    badTag[badTag.length - 1] = (badTag[badTag.length - 1] as number) ^ 1;
    expect(() => aeadOpen(key, nonce, aad, badTag)).toThrow();
    const badCt = sealed.slice();
    badCt[0] = (badCt[0] as number) ^ 0x80;
    expect(() => aeadOpen(key, nonce, aad, badCt)).toThrow();
    const badAad = aad.slice();
    badAad[0] = (badAad[0] as number) ^ 1;
    expect(() => aeadOpen(key, nonce, badAad, sealed)).toThrow();
  });
});

describe('HKDF-SHA256, RFC 5869 appendix A', () => {
  const cases = [
    {
      name: 'test case 1',
      ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
      salt: hex('000102030405060708090a0b0c'),
      info: hex('f0f1f2f3f4f5f6f7f8f9'),
      length: 42,
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      name: 'test case 2 (longer inputs and output)',
      ikm: Uint8Array.from({ length: 80 }, (_, i) => i),
      salt: Uint8Array.from({ length: 80 }, (_, i) => 0x60 + i),
      info: Uint8Array.from({ length: 80 }, (_, i) => 0xb0 + i),
      length: 82,
      okm:
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
        '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
        'cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      name: 'test case 3 (empty salt and info)',
      ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
      salt: new Uint8Array(0),
      info: new Uint8Array(0),
      length: 42,
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
  ];

  it.each(cases)('$name', ({ ikm, salt, info, length, okm }) => {
    expect(toHex(hkdf(sha256, ikm, salt, info, length))).toBe(okm);
  });

  it("the SDK's hkdfKey (salt empty, 32 bytes) is test case 3's output, cut at 32 bytes", () => {
    // HKDF-Expand's first 32 bytes do not depend on the length asked for (RFC 5869 2.3), and
    // an absent salt is HashLen zero bytes, the same as an empty one (RFC 5869 2.2).
    const ikm = hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b');
    expect(toHex(hkdfKey(ikm, ''))).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d',
    );
  });

  it('hkdfKey separates keys by info', () => {
    const ikm = fill(32, 7);
    const a = hkdfKey(ikm, 'journal/e2e/v1/password-key');
    const b = hkdfKey(ikm, 'journal/e2e/v1/recovery-key');
    expect(a).toHaveLength(32);
    expect(toHex(a)).not.toBe(toHex(b));
    expect(toHex(a)).toBe(
      toHex(hkdf(sha256, ikm, undefined, ascii('journal/e2e/v1/password-key'), 32)),
    );
  });
});

describe('Argon2id', () => {
  it('RFC 9106 5.3 (with secret and associated data), by @noble/hashes', () => {
    const out = nobleArgon2id(fill(32, 0x01), fill(16, 0x02), {
      t: 3,
      m: 32,
      p: 4,
      dkLen: 32,
      key: fill(8, 0x03),
      personalization: fill(12, 0x04),
    });
    expect(toHex(out)).toBe('0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659');
  });

  it('the reference implementation\'s m=65536 t=2 p=1 "password"/"somesalt", by hash-wasm', async () => {
    // phc-winner-argon2 src/test.c: $argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc
    const out = await argon2id(ascii('password'), {
      salt: ascii('somesalt'),
      m: 65536,
      t: 2,
      p: 1,
    });
    expect(toHex(out)).toBe('09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7');
  });

  it.each([
    { m: 32, t: 3, p: 4 },
    { m: 256, t: 2, p: 2 },
    { m: 65536, t: 3, p: 1 },
  ])(
    'hash-wasm equals @noble/hashes on RFC 9106 5.3 password and salt, m=$m t=$t p=$p',
    async (params) => {
      const password = fill(32, 0x01);
      const salt = fill(16, 0x02);
      const wasm = await argon2id(password, { salt, ...params });
      const noble = nobleArgon2id(password, salt, { ...params, dkLen: 32 });
      expect(wasm).toHaveLength(32);
      expect(toHex(wasm)).toBe(toHex(noble));
    },
  );

  it('hash-wasm equals @noble/hashes on a non-ASCII (NFKC-normalised) passphrase', async () => {
    const password = ascii('ｃｏｒｒｅｃｔ horse ☃ battery'.normalize('NFKC'));
    const salt = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const wasm = await argon2id(password, { salt, m: 64, t: 3, p: 1 });
    expect(toHex(wasm)).toBe(
      toHex(nobleArgon2id(password, salt, { m: 64, t: 3, p: 1, dkLen: 32 })),
    );
  });
});
