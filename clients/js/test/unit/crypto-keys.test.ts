/**
 * The key hierarchy and its flows (docs/encryption.md "Keys", "The key bundle", "Devices"):
 * create, unlock by passphrase or recovery key, the refusals, passphrase change without
 * re-encryption, adopting a newer bundle, the local store's form, and the Argon2id bounds.
 */
import { describe, expect, it } from 'vitest';
import { fromBase64url } from '../../src/crypto/encoding.js';
import { decryptEntry, encryptEntry } from '../../src/crypto/entries.js';
import { checkKdfParams, defaultKdfParams, type KdfParams } from '../../src/crypto/kdf.js';
import {
  addContentKey,
  adoptMaterial,
  type BundleMaterial,
  createBundle,
  rewrapForPassphrase,
  type UnlockedKeys,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
} from '../../src/crypto/keys.js';
import { deserializeKeys, serializeKeys } from '../../src/crypto/keystore.js';
import { DecryptionError, JournalError } from '../../src/errors.js';

const USER = 'user-1';
const PASS = 'a long passphrase, not the password';

async function rejectsWith(
  p: Promise<unknown> | (() => unknown),
  code: string,
): Promise<JournalError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe(code);
    return err as JournalError;
  }
  throw new Error(`expected ${code}`);
}

function sameKeys(a: UnlockedKeys, b: UnlockedKeys): void {
  expect(b.userId).toBe(a.userId);
  expect(b.masterKey).toEqual(a.masterKey);
  expect(b.currentKid).toBe(a.currentKid);
  expect([...b.contentKeys.entries()]).toEqual([...a.contentKeys.entries()]);
}

const created = createBundle(USER, PASS);

describe('createBundle', () => {
  it('makes a bundle of the documented shape, default Argon2id parameters, 24 words', async () => {
    const { material, keys, recoveryKey } = await created;
    expect(material.kdf.alg).toBe('argon2id');
    expect({ m: material.kdf.m, t: material.kdf.t, p: material.kdf.p }).toEqual({
      m: 65536,
      t: 3,
      p: 1,
    });
    expect(fromBase64url(material.kdf.salt)?.length).toBe(16);
    expect(material.passwordWrappedKey.kid).toBe('password');
    expect(material.recoveryWrappedKey.kid).toBe('recovery');
    expect(material.contentKeys).toHaveLength(1);
    expect(material.contentKeys[0]?.wrapped.kid).toBe('master');
    expect(material.currentKid).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(material.contentKeys[0]?.kid).toBe(material.currentKid);
    expect(recoveryKey.split(' ')).toHaveLength(24);
    expect(keys.masterKey).toHaveLength(32);
    expect(keys.contentKeys.get(keys.currentKid)).toHaveLength(32);
    // Nothing in the material is a key in the clear.
    const json = JSON.stringify(material);
    expect(json).not.toContain(Buffer.from(keys.masterKey).toString('base64url'));
  });

  it('makes different keys, salts and recovery keys each time', async () => {
    const a = await created;
    const b = await createBundle(USER, PASS);
    expect(b.keys.masterKey).not.toEqual(a.keys.masterKey);
    expect(b.material.kdf.salt).not.toBe(a.material.kdf.salt);
    expect(b.recoveryKey).not.toBe(a.recoveryKey);
  });

  it('refuses an empty passphrase and weak parameters', async () => {
    await rejectsWith(createBundle(USER, ''), 'validation_failed');
    await rejectsWith(
      createBundle(USER, PASS, { ...defaultKdfParams(), m: 1024 }),
      'weak_key_params',
    );
  });
});

describe('unlocking', () => {
  it('with the passphrase gives the same keys, which open what the first device sealed', async () => {
    const { material, keys } = await created;
    const unlocked = await unlockWithPassphrase(USER, material, PASS);
    sameKeys(keys, unlocked);
    const env = encryptEntry(keys, 'e1', { body: 'hello' }, null);
    expect(decryptEntry(unlocked, 'e1', env).content).toEqual({ body: 'hello' });
  });

  it('normalises the passphrase (NFKC): full-width and composed forms are the same passphrase', async () => {
    const pass = 'ｃａｆé ☃';
    const { material, keys } = await createBundle(USER, pass);
    sameKeys(keys, await unlockWithPassphrase(USER, material, 'cafe\u0301 ☃'));
  });

  it('with a wrong passphrase is wrong_passphrase', async () => {
    const { material } = await created;
    await rejectsWith(unlockWithPassphrase(USER, material, `${PASS} `), 'wrong_passphrase');
    await rejectsWith(unlockWithPassphrase(USER, material, ''), 'wrong_passphrase');
  });

  it("of another account's bundle (right passphrase, other userId) is wrong_passphrase", async () => {
    const { material } = await created;
    await rejectsWith(unlockWithPassphrase('user-2', material, PASS), 'wrong_passphrase');
  });

  it('with the recovery key (any case and spacing) gives the same keys', async () => {
    const { material, keys, recoveryKey } = await created;
    sameKeys(keys, unlockWithRecoveryKey(USER, material, recoveryKey));
    const messy = `  ${recoveryKey.toUpperCase().split(' ').join(' \n\t ')}  `;
    sameKeys(keys, unlockWithRecoveryKey(USER, material, messy));
  });

  it("with another bundle's recovery key is wrong_recovery_key", async () => {
    const { material } = await created;
    const other = await createBundle(USER, PASS);
    await rejectsWith(
      () => unlockWithRecoveryKey(USER, material, other.recoveryKey),
      'wrong_recovery_key',
    );
    const { recoveryKey } = await created;
    await rejectsWith(
      () => unlockWithRecoveryKey('user-2', material, recoveryKey),
      'wrong_recovery_key',
    );
  });

  it('with words that are not a recovery key is invalid_recovery_key', async () => {
    const { material, recoveryKey } = await created;
    const words = recoveryKey.split(' ');
    const cases = [
      '',
      words.slice(0, 23).join(' '),
      [...words, 'abandon'].join(' '),
      [...words.slice(0, 23), 'notaword'].join(' '),
      // A valid word in the wrong place breaks the checksum (almost always; this one does).
      [...words.slice(0, 23), words[23] === 'zoo' ? 'abandon' : 'zoo'].join(' '),
      words.slice(0, 12).join(' '),
    ];
    for (const c of cases)
      await rejectsWith(() => unlockWithRecoveryKey(USER, material, c), 'invalid_recovery_key');
  });

  it('refuses a bundle whose parameters were downgraded (weak_key_params), before any derivation', async () => {
    const { material } = await created;
    for (const kdf of [
      { ...material.kdf, m: 8 },
      { ...material.kdf, t: 1 },
      { ...material.kdf, p: 0 },
    ]) {
      await rejectsWith(unlockWithPassphrase(USER, { ...material, kdf }, PASS), 'weak_key_params');
    }
  });

  it('a bundle with a tampered content key or current kid is DecryptionError', async () => {
    const { material } = await created;
    const first = material.contentKeys[0] as BundleMaterial['contentKeys'][number];
    const swapped: BundleMaterial = {
      ...material,
      contentKeys: [{ kid: 'AAAAAAAAAAA', wrapped: first.wrapped }],
      currentKid: 'AAAAAAAAAAA',
    };
    await expect(unlockWithPassphrase(USER, swapped, PASS)).rejects.toBeInstanceOf(DecryptionError);
    const noCurrent: BundleMaterial = { ...material, currentKid: 'BBBBBBBBBBB' };
    await expect(unlockWithPassphrase(USER, noCurrent, PASS)).rejects.toBeInstanceOf(
      DecryptionError,
    );
  });
});

describe('passphrase change and newer bundles', () => {
  it('rewrap: new salt, new passwordWrappedKey, content keys untouched; old envelopes decrypt', async () => {
    const { material, keys, recoveryKey } = await created;
    const env = encryptEntry(keys, 'e1', { body: 'before the change' }, null);
    const next = await rewrapForPassphrase(keys, material, 'the new passphrase');
    expect(next.kdf.salt).not.toBe(material.kdf.salt);
    expect(next.passwordWrappedKey).not.toEqual(material.passwordWrappedKey);
    expect(next.recoveryWrappedKey).toEqual(material.recoveryWrappedKey);
    expect(next.contentKeys).toEqual(material.contentKeys);
    expect(next.currentKid).toBe(material.currentKid);
    await rejectsWith(unlockWithPassphrase(USER, next, PASS), 'wrong_passphrase');
    const unlocked = await unlockWithPassphrase(USER, next, 'the new passphrase');
    sameKeys(keys, unlocked);
    expect(decryptEntry(unlocked, 'e1', env).content).toEqual({ body: 'before the change' });
    // The recovery key still opens it.
    sameKeys(keys, unlockWithRecoveryKey(USER, next, recoveryKey));
  });

  it('adoptMaterial takes a newer bundle with another content key; old and new data decrypt', async () => {
    const { material, keys } = await created;
    const old = encryptEntry(keys, 'e1', { v: 'old' }, null);
    const rotated = addContentKey(keys, material);
    expect(rotated.material.contentKeys).toHaveLength(2);
    const adopted = adoptMaterial(keys, rotated.material);
    expect(adopted.currentKid).toBe(rotated.keys.currentKid);
    expect(adopted.currentKid).not.toBe(keys.currentKid);
    const fresh = encryptEntry(adopted, 'e2', { v: 'new' }, null);
    expect(fresh.kid).toBe(adopted.currentKid);
    expect(decryptEntry(adopted, 'e1', old).content).toEqual({ v: 'old' });
    expect(decryptEntry(rotated.keys, 'e2', fresh).content).toEqual({ v: 'new' });
    // The first device, unlocked again from the new bundle, reads both too.
    const again = await unlockWithPassphrase(USER, rotated.material, PASS);
    expect(decryptEntry(again, 'e2', fresh).content).toEqual({ v: 'new' });
  });

  it("adoptMaterial refuses another master key's bundle (DecryptionError)", async () => {
    const { keys } = await created;
    const other = await createBundle(USER, PASS);
    expect(() => adoptMaterial(keys, other.material)).toThrow(DecryptionError);
  });
});

describe('serializeKeys / deserializeKeys', () => {
  it('round-trip', async () => {
    const { keys, material } = await created;
    const rotated = addContentKey(keys, material).keys;
    const back = deserializeKeys(serializeKeys(rotated));
    sameKeys(rotated, back);
    const env = encryptEntry(rotated, 'e1', { x: 1 }, null);
    expect(decryptEntry(back, 'e1', env).content).toEqual({ x: 1 });
  });

  it('refuse anything else', async () => {
    const { keys } = await created;
    const good = JSON.parse(serializeKeys(keys)) as Record<string, unknown>;
    const bad = [
      '',
      'not json',
      'null',
      '[]',
      JSON.stringify({ ...good, v: 2 }),
      JSON.stringify({ ...good, masterKey: 'AAAA' }),
      JSON.stringify({ ...good, userId: '' }),
      JSON.stringify({ ...good, contentKeys: [] }),
      JSON.stringify({ ...good, contentKeys: [['bad kid!', good.masterKey]] }),
      JSON.stringify({ ...good, currentKid: 'missing' }),
    ];
    for (const s of bad) await rejectsWith(() => deserializeKeys(s), 'validation_failed');
  });
});

describe('checkKdfParams', () => {
  const ok: KdfParams = { alg: 'argon2id', salt: 'AAAAAAAAAAAAAAAAAAAAAA', m: 65536, t: 3, p: 1 };

  it('accepts the bounds and returns exactly the five fields', () => {
    expect(checkKdfParams(ok)).toEqual(ok);
    const max = { ...ok, m: 1_048_576, t: 20, p: 4, salt: Buffer.alloc(64).toString('base64url') };
    expect(checkKdfParams(max)).toEqual(max);
  });

  it('refuses below the minimum, above the maximum, or malformed: weak_key_params', async () => {
    const bad: unknown[] = [
      { ...ok, m: 65535 },
      { ...ok, t: 2 },
      { ...ok, p: 0 },
      { ...ok, m: 1_048_577 },
      { ...ok, t: 21 },
      { ...ok, p: 5 },
      { ...ok, m: 2 ** 40 },
      { ...ok, t: Number.POSITIVE_INFINITY },
      { ...ok, m: 65536.5 },
      { ...ok, m: '65536' },
      { ...ok, salt: Buffer.alloc(15).toString('base64url') },
      { ...ok, salt: Buffer.alloc(65).toString('base64url') },
      { ...ok, salt: 'not base64url!' },
      { ...ok, alg: 'argon2i' },
      { ...ok, extra: 1 },
      { alg: 'argon2id', salt: ok.salt, m: 65536, t: 3 },
      null,
      [],
      'argon2id',
      { $gt: '' },
    ];
    for (const p of bad) await rejectsWith(() => checkKdfParams(p), 'weak_key_params');
  });
});
