/**
 * The key hierarchy (docs/encryption.md "Keys", "The key bundle"): a random master key wrapped
 * under the passphrase's key and the recovery key; content keys (with kids) wrapped under the
 * master key. The server stores the wrapped forms (`BundleMaterial`); a device holds the
 * unwrapped ones (`UnlockedKeys`).
 */
import { DecryptionError, JournalError } from '../errors.js';
import { toBase64url } from './encoding.js';
import { type Envelope, isEnvelope, isKid, openEnvelope, sealEnvelope } from './envelope.js';
import { checkKdfParams, defaultKdfParams, type KdfParams, passwordKey } from './kdf.js';
import { KEY_BYTES, randomBytes, wipe } from './primitives.js';
import { newRecoveryKey, recoveryKeyFromWords } from './recovery.js';

export interface WrappedContentKey {
  kid: string;
  wrapped: Envelope;
}

/** What the server stores (docs/encryption.md "The key bundle"), minus version/state/migration/timestamps. */
export interface BundleMaterial {
  kdf: KdfParams;
  passwordWrappedKey: Envelope;
  recoveryWrappedKey: Envelope;
  contentKeys: WrappedContentKey[];
  currentKid: string;
}

/** Unlocked keys held by a device. */
export interface UnlockedKeys {
  userId: string;
  masterKey: Uint8Array;
  contentKeys: Map<string, Uint8Array>;
  currentKid: string;
}

const MASTER = 'journal/e2e/master';
const CONTENT_KEY = 'journal/e2e/content-key';

/** A new content key id: 8 random bytes, 11 base64url characters. */
export function newKid(): string {
  return toBase64url(randomBytes(8));
}

function wrapMaster(
  key: Uint8Array,
  kid: 'password' | 'recovery',
  userId: string,
  master: Uint8Array,
): Envelope {
  return sealEnvelope(key, kid, MASTER, [userId], master);
}

function wrapContentKey(
  master: Uint8Array,
  userId: string,
  kid: string,
  contentKey: Uint8Array,
): WrappedContentKey {
  return { kid, wrapped: sealEnvelope(master, 'master', CONTENT_KEY, [userId, kid], contentKey) };
}

/** The master key from one of its two wrappings, or undefined when `key` does not open it. */
function unwrapMaster(
  key: Uint8Array,
  kid: 'password' | 'recovery',
  userId: string,
  wrapped: unknown,
): Uint8Array | undefined {
  if (!isEnvelope(wrapped) || wrapped.kid !== kid) return undefined;
  const master = openEnvelope(key, MASTER, [userId], wrapped);
  return master?.length === KEY_BYTES ? master : undefined;
}

function bundleError(detail: string): DecryptionError {
  return new DecryptionError(`the key bundle does not decrypt: ${detail}`);
}

/** Every content key of `material` unwrapped with the master key; DecryptionError otherwise. */
function unwrapContentKeys(
  userId: string,
  master: Uint8Array,
  material: BundleMaterial,
): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  if (!Array.isArray(material.contentKeys)) throw bundleError('no content keys');
  for (const entry of material.contentKeys) {
    const kid = (entry as Partial<WrappedContentKey> | null)?.kid;
    const wrapped = (entry as Partial<WrappedContentKey> | null)?.wrapped;
    if (!isKid(kid) || !isEnvelope(wrapped) || wrapped.kid !== 'master' || keys.has(kid))
      throw bundleError('a malformed content key');
    const key = openEnvelope(master, CONTENT_KEY, [userId, kid], wrapped);
    if (key?.length !== KEY_BYTES) throw bundleError(`content key ${kid}`);
    keys.set(kid, key);
  }
  if (!keys.has(material.currentKid))
    throw bundleError('the current kid is not among the content keys');
  return keys;
}

/**
 * A new key set for `userId`: master key, one content key, a recovery key (24 words, shown to
 * the user once) and the bundle material to store.
 */
export async function createBundle(
  userId: string,
  passphrase: string,
  kdf?: KdfParams,
): Promise<{ material: BundleMaterial; keys: UnlockedKeys; recoveryKey: string }> {
  if (passphrase.length === 0)
    throw new JournalError('validation_failed', 'the passphrase is empty');
  const params = checkKdfParams(kdf ?? defaultKdfParams());
  const masterKey = randomBytes(KEY_BYTES);
  const contentKey = randomBytes(KEY_BYTES);
  const kid = newKid();
  const pwKey = await passwordKey(passphrase, params);
  const recovery = newRecoveryKey();
  const material: BundleMaterial = {
    kdf: params,
    passwordWrappedKey: wrapMaster(pwKey, 'password', userId, masterKey),
    recoveryWrappedKey: wrapMaster(recovery.key, 'recovery', userId, masterKey),
    contentKeys: [wrapContentKey(masterKey, userId, kid, contentKey)],
    currentKid: kid,
  };
  wipe(pwKey, recovery.key);
  return {
    material,
    keys: { userId, masterKey, contentKeys: new Map([[kid, contentKey]]), currentKid: kid },
    recoveryKey: recovery.words,
  };
}

/** The keys of `material` opened with the passphrase; `wrong_passphrase` when it does not open. */
export async function unlockWithPassphrase(
  userId: string,
  material: BundleMaterial,
  passphrase: string,
): Promise<UnlockedKeys> {
  const pwKey = await passwordKey(passphrase, material.kdf);
  const masterKey = unwrapMaster(pwKey, 'password', userId, material.passwordWrappedKey);
  wipe(pwKey);
  if (!masterKey)
    throw new JournalError('wrong_passphrase', 'the passphrase does not unlock the journal');
  return {
    userId,
    masterKey,
    contentKeys: unwrapContentKeys(userId, masterKey, material),
    currentKid: material.currentKid,
  };
}

/**
 * The keys of `material` opened with the recovery key's 24 words: `invalid_recovery_key` when
 * they are not a recovery key, `wrong_recovery_key` when they do not open this bundle.
 */
export function unlockWithRecoveryKey(
  userId: string,
  material: BundleMaterial,
  recoveryKey: string,
): UnlockedKeys {
  const key = recoveryKeyFromWords(recoveryKey);
  const masterKey = unwrapMaster(key, 'recovery', userId, material.recoveryWrappedKey);
  wipe(key);
  if (!masterKey)
    throw new JournalError('wrong_recovery_key', 'the recovery key does not unlock the journal');
  return {
    userId,
    masterKey,
    contentKeys: unwrapContentKeys(userId, masterKey, material),
    currentKid: material.currentKid,
  };
}

/**
 * `material` with the master key wrapped under a new passphrase (new salt, the same cost
 * parameters unless they are below the minimum); content keys and the recovery wrapping are
 * kept as they are, so nothing is re-encrypted.
 */
export async function rewrapForPassphrase(
  keys: UnlockedKeys,
  material: BundleMaterial,
  newPassphrase: string,
): Promise<BundleMaterial> {
  if (newPassphrase.length === 0)
    throw new JournalError('validation_failed', 'the passphrase is empty');
  const fresh = defaultKdfParams();
  let kdf: KdfParams;
  try {
    const old = checkKdfParams(material.kdf);
    kdf = { ...old, salt: fresh.salt };
  } catch {
    kdf = fresh;
  }
  const pwKey = await passwordKey(newPassphrase, kdf);
  const passwordWrappedKey = wrapMaster(pwKey, 'password', keys.userId, keys.masterKey);
  wipe(pwKey);
  return {
    kdf,
    passwordWrappedKey,
    recoveryWrappedKey: material.recoveryWrappedKey,
    contentKeys: material.contentKeys.map((c) => ({ kid: c.kid, wrapped: { ...c.wrapped } })),
    currentKid: material.currentKid,
  };
}

/**
 * The keys of a newer bundle (more content keys, another current kid) unwrapped with the
 * master key this device holds. Content keys this device holds that the bundle lacks are kept.
 * DecryptionError when the bundle is not of this master key.
 */
export function adoptMaterial(keys: UnlockedKeys, material: BundleMaterial): UnlockedKeys {
  const fresh = unwrapContentKeys(keys.userId, keys.masterKey, material);
  const contentKeys = new Map(keys.contentKeys);
  for (const [kid, key] of fresh) contentKeys.set(kid, key);
  return {
    userId: keys.userId,
    masterKey: keys.masterKey,
    contentKeys,
    currentKid: material.currentKid,
  };
}

/**
 * `material` with one more content key, made current (key rotation): the new keys and the
 * material to store. Old kids stay so old data decrypts.
 */
export function addContentKey(
  keys: UnlockedKeys,
  material: BundleMaterial,
): { material: BundleMaterial; keys: UnlockedKeys } {
  const kid = newKid();
  const key = randomBytes(KEY_BYTES);
  const contentKeys = new Map(keys.contentKeys);
  contentKeys.set(kid, key);
  return {
    material: {
      ...material,
      contentKeys: [...material.contentKeys, wrapContentKey(keys.masterKey, keys.userId, kid, key)],
      currentKid: kid,
    },
    keys: { ...keys, contentKeys, currentKid: kid },
  };
}
