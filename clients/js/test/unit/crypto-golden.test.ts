/**
 * The golden fixture (test/fixtures/crypto-golden.json, made once by scripts/crypto-golden.ts)
 * in Node, two ways: opened by the SDK's API, and opened by docs/encryption.md's recipe written
 * out here with the libraries alone (no SDK code), so the bytes are the documented format and
 * not merely whatever the SDK happens to read back. The same fixture is opened in Chromium by
 * clients/web/test/crypto-golden.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { mnemonicToEntropy } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { argon2id } from 'hash-wasm';
import { describe, expect, it } from 'vitest';
import {
  type BundleMaterial,
  decryptEntry,
  decryptFile,
  decryptWithPassphrase,
  type Envelope,
  type UnlockedKeys,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
} from '../../src/crypto/index.js';

interface Golden {
  userId: string;
  passphrase: string;
  passphraseNfkc: string;
  recoveryKey: string;
  material: BundleMaterial;
  keys: { masterKey: string; contentKeys: Record<string, string>; currentKid: string };
  entries: {
    entryId: string;
    content: Record<string, unknown>;
    clientUpdatedAt: string | null;
    envelope: Envelope;
  }[];
  files: {
    attachmentId: string;
    meta: { name: string; type: string; size: number };
    plaintext: string;
    ciphertext: string;
    sha256: string;
  }[];
  export: { passphrase: string; type: string; plaintext: string; ciphertext: string };
}

const golden = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'crypto-golden.json'), 'utf8'),
) as Golden;

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64url'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The golden keys as the SDK holds them. */
function goldenKeys(): UnlockedKeys {
  return {
    userId: golden.userId,
    masterKey: b64(golden.keys.masterKey),
    contentKeys: new Map(Object.entries(golden.keys.contentKeys).map(([kid, k]) => [kid, b64(k)])),
    currentKid: golden.keys.currentKid,
  };
}

function expectKeysEqual(got: UnlockedKeys, want: UnlockedKeys) {
  expect(got.userId).toBe(want.userId);
  expect(hex(got.masterKey)).toBe(hex(want.masterKey));
  expect(got.currentKid).toBe(want.currentKid);
  expect(new Map([...got.contentKeys].map(([k, v]) => [k, hex(v)]))).toEqual(
    new Map([...want.contentKeys].map(([k, v]) => [k, hex(v)])),
  );
}

/** docs/encryption.md, written out: the pieces of the format, with no SDK code. */
const spec = {
  hkdf: (ikm: Uint8Array, info: string) => hkdf(sha256, ikm, new Uint8Array(0), utf8(info), 32),
  /** An envelope opened with AAD JSON.stringify([purpose, v, alg, kid, ...binding]). */
  open(key: Uint8Array, envelope: Envelope, purpose: string, binding: (string | number)[]) {
    expect(Object.keys(envelope).sort()).toEqual(['alg', 'ct', 'kid', 'n', 'v']);
    expect(envelope.v).toBe(1);
    expect(envelope.alg).toBe('xchacha20-poly1305');
    const nonce = b64(envelope.n);
    expect(nonce).toHaveLength(24);
    expect(envelope.n).not.toMatch(/=/);
    const aad = utf8(JSON.stringify([purpose, 1, 'xchacha20-poly1305', envelope.kid, ...binding]));
    return xchacha20poly1305(key, nonce, aad).decrypt(b64(envelope.ct));
  },
  async passwordKey(passphrase: string, kdf: BundleMaterial['kdf']) {
    const stretched = await argon2id({
      password: utf8(passphrase.normalize('NFKC')),
      salt: b64(kdf.salt),
      iterations: kdf.t,
      parallelism: kdf.p,
      memorySize: kdf.m,
      hashLength: 32,
      outputType: 'binary',
    });
    return stretched;
  },
  /** "JRNLE2E1" | uint32-be length | header JSON | chunks, each chunk opened with the file key. */
  parseFile(bytes: Uint8Array) {
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('JRNLE2E1');
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8);
    expect(length).toBeLessThanOrEqual(64 * 1024);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
    return { header, body: bytes.subarray(12 + length) };
  },
  openChunks(
    fileKey: Uint8Array,
    prefix: Uint8Array,
    binding: [string, string],
    body: Uint8Array,
  ): Uint8Array {
    const chunkSize = 4 * 1024 * 1024;
    const n = Math.max(1, Math.ceil(body.length / (chunkSize + 16)));
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const sealed = body.subarray(i * (chunkSize + 16), (i + 1) * (chunkSize + 16));
      const nonce = new Uint8Array(24);
      nonce.set(prefix);
      new DataView(nonce.buffer).setBigUint64(16, BigInt(i));
      const aad = utf8(JSON.stringify(['journal/e2e/chunk', 1, ...binding, i, i === n - 1]));
      out.push(...xchacha20poly1305(fileKey, nonce, aad).decrypt(sealed));
    }
    return new Uint8Array(out);
  },
};

describe('the golden key bundle', () => {
  it('opens by the documented recipe: Argon2id → HKDF password-key → master key; recovery words → HKDF recovery-key → the same master key; content keys under the master key', async () => {
    const { material, userId } = golden;
    expect(material.kdf).toEqual({
      alg: 'argon2id',
      salt: material.kdf.salt,
      m: 65536,
      t: 3,
      p: 1,
    });
    expect(b64(material.kdf.salt)).toHaveLength(16);
    const stretched = await spec.passwordKey(golden.passphrase, material.kdf);
    const passwordKey = spec.hkdf(stretched, 'journal/e2e/v1/password-key');
    expect(material.passwordWrappedKey.kid).toBe('password');
    const master = spec.open(passwordKey, material.passwordWrappedKey, 'journal/e2e/master', [
      userId,
    ]);
    expect(hex(master)).toBe(hex(b64(golden.keys.masterKey)));

    expect(golden.recoveryKey.split(' ')).toHaveLength(24);
    const entropy = mnemonicToEntropy(golden.recoveryKey, wordlist);
    expect(entropy).toHaveLength(32);
    const recoveryKey = spec.hkdf(entropy, 'journal/e2e/v1/recovery-key');
    expect(material.recoveryWrappedKey.kid).toBe('recovery');
    const again = spec.open(recoveryKey, material.recoveryWrappedKey, 'journal/e2e/master', [
      userId,
    ]);
    expect(hex(again)).toBe(hex(master));

    expect(material.contentKeys).toHaveLength(2);
    for (const { kid, wrapped } of material.contentKeys) {
      expect(kid).toMatch(/^[A-Za-z0-9_-]{11}$/);
      expect(wrapped.kid).toBe('master');
      const key = spec.open(master, wrapped, 'journal/e2e/content-key', [userId, kid]);
      expect(hex(key)).toBe(hex(b64(golden.keys.contentKeys[kid] as string)));
    }
    expect(material.currentKid).toBe(golden.keys.currentKid);
  });

  it('unlocks with the passphrase as typed and as NFKC, and with the recovery key in any case and spacing', async () => {
    const want = goldenKeys();
    expectKeysEqual(
      await unlockWithPassphrase(golden.userId, golden.material, golden.passphrase),
      want,
    );
    expectKeysEqual(
      await unlockWithPassphrase(golden.userId, golden.material, golden.passphraseNfkc),
      want,
    );
    expectKeysEqual(
      unlockWithRecoveryKey(golden.userId, golden.material, golden.recoveryKey),
      want,
    );
    const shouted = `  ${golden.recoveryKey.toUpperCase().split(' ').join('\n\t ')} `;
    expectKeysEqual(unlockWithRecoveryKey(golden.userId, golden.material, shouted), want);
  });

  it('refuses another passphrase (wrong_passphrase) and another account (the userId is bound)', async () => {
    await expect(
      unlockWithPassphrase(golden.userId, golden.material, `${golden.passphraseNfkc}!`),
    ).rejects.toMatchObject({ code: 'wrong_passphrase' });
    expect(() =>
      unlockWithRecoveryKey('another-user', golden.material, golden.recoveryKey),
    ).toThrow(expect.objectContaining({ code: 'wrong_recovery_key' }));
  });
});

describe('the golden entries', () => {
  it.each(golden.entries.map((e) => [e.entryId, e] as const))(
    '%s opens by the documented recipe: {"c","t"} padded with spaces to a multiple of 256 bytes',
    (_id, entry) => {
      const key = b64(golden.keys.contentKeys[entry.envelope.kid] as string);
      const plain = spec.open(key, entry.envelope, 'journal/e2e/entry', [
        golden.userId,
        entry.entryId,
      ]);
      expect(plain.length % 256).toBe(0);
      const text = new TextDecoder('utf-8', { fatal: true }).decode(plain);
      const json = text.trimEnd();
      expect(text.slice(json.length)).toMatch(/^ *$/);
      expect(plain.length - utf8(json).length).toBeLessThan(256);
      expect(JSON.parse(json)).toEqual({ c: entry.content, t: entry.clientUpdatedAt });
    },
  );

  it('decrypt with the SDK, under the older and the current content key', () => {
    const keys = goldenKeys();
    const kids = new Set(golden.entries.map((e) => e.envelope.kid));
    expect(kids).toEqual(new Set(Object.keys(golden.keys.contentKeys)));
    for (const e of golden.entries)
      expect(decryptEntry(keys, e.entryId, e.envelope)).toEqual({
        content: e.content,
        clientUpdatedAt: e.clientUpdatedAt,
      });
  });
});

describe('the golden attachments', () => {
  it.each(golden.files.map((f) => [f.attachmentId, f] as const))(
    '%s opens by the documented recipe (file key under the content key, meta under the file key, chunks)',
    (_id, file) => {
      const bytes = b64(file.ciphertext);
      expect(hex(sha256(bytes))).toBe(file.sha256);
      const { header, body } = spec.parseFile(bytes);
      expect(Object.keys(header).sort()).toEqual([
        'alg',
        'chunkSize',
        'fileKey',
        'kid',
        'meta',
        'prefix',
        'v',
      ]);
      expect(header).toMatchObject({ v: 1, alg: 'xchacha20-poly1305-chunked', chunkSize: 4194304 });
      expect(b64(header.prefix)).toHaveLength(16);
      const binding: [string, string] = [golden.userId, file.attachmentId];
      const contentKey = b64(golden.keys.contentKeys[header.kid] as string);
      expect(header.fileKey.kid).toBe(header.kid);
      const fileKey = spec.open(contentKey, header.fileKey, 'journal/e2e/file-key', binding);
      expect(header.meta.kid).toBe('file');
      const meta = JSON.parse(
        new TextDecoder().decode(spec.open(fileKey, header.meta, 'journal/e2e/file-meta', binding)),
      );
      expect(meta).toEqual(file.meta);
      const plain = b64(file.plaintext);
      expect(body.length).toBe(plain.length + 16);
      expect(hex(spec.openChunks(fileKey, b64(header.prefix), binding, body))).toBe(hex(plain));
    },
  );

  it.each(golden.files.map((f) => [f.attachmentId, f] as const))(
    '%s decrypts with the SDK to its bytes, name, type and size',
    async (_id, file) => {
      const source = new Blob([b64(file.ciphertext) as Uint8Array<ArrayBuffer>]);
      const { meta, blob } = await decryptFile(goldenKeys(), file.attachmentId, source);
      expect(meta).toEqual(file.meta);
      expect(blob.type).toBe(file.meta.type);
      expect(hex(new Uint8Array(await blob.arrayBuffer()))).toBe(hex(b64(file.plaintext)));
    },
  );
});

describe('the golden passphrase-encrypted export', () => {
  it('decrypts with its passphrase to the same bytes and type', async () => {
    const source = new Blob([b64(golden.export.ciphertext) as Uint8Array<ArrayBuffer>]);
    const blob = await decryptWithPassphrase(source, golden.export.passphrase);
    expect(blob.type).toBe(golden.export.type);
    expect(hex(new Uint8Array(await blob.arrayBuffer()))).toBe(hex(b64(golden.export.plaintext)));
  });

  it('opens by the documented recipe: Argon2id in the header → HKDF export-key → file key (kid export), bound to "" and "export"', async () => {
    const { header, body } = spec.parseFile(b64(golden.export.ciphertext));
    expect(Object.keys(header).sort()).toEqual([
      'alg',
      'chunkSize',
      'fileKey',
      'kdf',
      'kid',
      'meta',
      'prefix',
      'v',
    ]);
    expect(header).toMatchObject({ v: 1, alg: 'xchacha20-poly1305-chunked', chunkSize: 4194304 });
    expect(header.kdf).toMatchObject({ alg: 'argon2id', m: 65536, t: 3, p: 1 });
    expect(b64(header.kdf.salt)).toHaveLength(16);
    expect(header.kid).toBe('export');
    expect(header.fileKey.kid).toBe('export');
    const stretched = await spec.passwordKey(golden.export.passphrase, header.kdf);
    const exportKey = spec.hkdf(stretched, 'journal/e2e/v1/export-key');
    const binding: [string, string] = ['', 'export'];
    const fileKey = spec.open(exportKey, header.fileKey, 'journal/e2e/file-key', binding);
    const meta = JSON.parse(
      new TextDecoder().decode(spec.open(fileKey, header.meta, 'journal/e2e/file-meta', binding)),
    );
    const plain = b64(golden.export.plaintext);
    expect(meta).toEqual({ name: '', type: golden.export.type, size: plain.length });
    expect(hex(spec.openChunks(fileKey, b64(header.prefix), binding, body))).toBe(hex(plain));
  });
});
