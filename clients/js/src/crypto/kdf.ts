/**
 * The passphrase's key (docs/encryption.md "Keys"): Argon2id with the bundle's parameters,
 * refused below the minimum or above the maximum (`weak_key_params`, so a server cannot
 * downgrade them), then HKDF "journal/e2e/v1/password-key".
 */
import { JournalError } from '../errors.js';
import { fromBase64url, toBase64url, utf8 } from './encoding.js';
import { argon2id, hkdfKey, randomBytes, wipe } from './primitives.js';

export interface KdfParams {
  alg: 'argon2id';
  salt: string;
  m: number;
  t: number;
  p: number;
}

/** Argon2id bounds; the defaults are the minimum. */
export const KDF_LIMITS = {
  m: { min: 65_536, max: 1_048_576 },
  t: { min: 3, max: 20 },
  p: { min: 1, max: 4 },
  salt: { min: 16, max: 64 },
} as const;

export const PASSWORD_KEY_INFO = 'journal/e2e/v1/password-key';

/** Fresh parameters: the minimum costs and a random 16-byte salt. */
export function defaultKdfParams(): KdfParams {
  return {
    alg: 'argon2id',
    salt: toBase64url(randomBytes(16)),
    m: KDF_LIMITS.m.min,
    t: KDF_LIMITS.t.min,
    p: KDF_LIMITS.p.min,
  };
}

function weak(detail: string): JournalError {
  return new JournalError('weak_key_params', `key derivation parameters refused: ${detail}`);
}

function inRange(value: unknown, range: { min: number; max: number }): value is number {
  return (
    Number.isSafeInteger(value) && (value as number) >= range.min && (value as number) <= range.max
  );
}

/**
 * `p` as KdfParams (a copy with exactly the five fields) when it is Argon2id within the bounds
 * with a 16-64 byte base64url salt; otherwise `weak_key_params`.
 */
export function checkKdfParams(p: unknown): KdfParams {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw weak('not an object');
  const k = p as Record<string, unknown>;
  const extra = Object.keys(k).filter((key) => !['alg', 'salt', 'm', 't', 'p'].includes(key));
  if (extra.length > 0) throw weak(`unknown field ${extra[0]}`);
  if (k.alg !== 'argon2id') throw weak('alg must be argon2id');
  const salt = typeof k.salt === 'string' ? fromBase64url(k.salt) : undefined;
  if (!salt || salt.length < KDF_LIMITS.salt.min || salt.length > KDF_LIMITS.salt.max)
    throw weak(`salt must be base64url of ${KDF_LIMITS.salt.min}-${KDF_LIMITS.salt.max} bytes`);
  for (const name of ['m', 't', 'p'] as const) {
    const range = KDF_LIMITS[name];
    if (!inRange(k[name], range))
      throw weak(`${name} must be an integer from ${range.min} to ${range.max}`);
  }
  return {
    alg: 'argon2id',
    salt: k.salt as string,
    m: k.m as number,
    t: k.t as number,
    p: k.p as number,
  };
}

/** Passphrases are compared as NFKC, so the same text typed on two keyboards gives one key. */
export function normalizePassphrase(passphrase: string): Uint8Array {
  return utf8(passphrase.normalize('NFKC'));
}

/** The 32-byte Argon2id output of the passphrase (checked parameters). */
export async function stretchPassphrase(passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  const params = checkKdfParams(kdf);
  const salt = fromBase64url(params.salt) as Uint8Array;
  const password = normalizePassphrase(passphrase);
  // No key is ever made from an empty passphrase (the SDK refuses one when it creates keys).
  if (password.length === 0) throw new JournalError('wrong_passphrase', 'the passphrase is empty');
  try {
    return await argon2id(password, { salt, m: params.m, t: params.t, p: params.p });
  } finally {
    wipe(password);
  }
}

/** The password key: HKDF of the Argon2id output. */
export async function passwordKey(passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  const stretched = await stretchPassphrase(passphrase, kdf);
  try {
    return hkdfKey(stretched, PASSWORD_KEY_INFO);
  } finally {
    wipe(stretched);
  }
}
