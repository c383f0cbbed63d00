/**
 * The envelope (docs/encryption.md "The envelope"): everything encrypted with a key is
 * `{v, alg, kid, n, ct}`, authenticated with the AAD `JSON.stringify([purpose, v, alg, kid,
 * ...binding])`, so a ciphertext moved to another entry, attachment, account, kid or version
 * fails to open.
 */
import { fromBase64url, toBase64url, utf8 } from './encoding.js';
import { aeadOpen, aeadSeal, NONCE_BYTES, randomBytes, TAG_BYTES } from './primitives.js';

export const ENCRYPTED_CONTENT_TYPE = 'application/vnd.journal.encrypted';
export const ENVELOPE_VERSION = 1;
export const ENVELOPE_ALG = 'xchacha20-poly1305';

export interface Envelope {
  v: 1;
  alg: 'xchacha20-poly1305';
  kid: string;
  n: string;
  ct: string;
}

/** What an envelope's AAD names first (the table in docs/encryption.md). */
export type Purpose =
  | 'journal/e2e/entry'
  | 'journal/e2e/master'
  | 'journal/e2e/content-key'
  | 'journal/e2e/file-key'
  | 'journal/e2e/file-meta';

/** A key id: a content key's (11 characters) or a wrapping key's name (`master`, …). */
const KID = /^[A-Za-z0-9_-]{1,64}$/;
const ENVELOPE_KEYS = ['alg', 'ct', 'kid', 'n', 'v'];

export function isKid(x: unknown): x is string {
  return typeof x === 'string' && KID.test(x);
}

/**
 * True when `x` is exactly an envelope: these five keys and no other, `v` 1, the algorithm,
 * a kid, a canonical base64url nonce of 24 bytes and ciphertext of at least the 16-byte tag.
 */
export function isEnvelope(x: unknown): x is Envelope {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  if (Object.getPrototypeOf(x) !== Object.prototype && Object.getPrototypeOf(x) !== null)
    return false;
  const keys = Object.keys(x).sort();
  if (keys.length !== ENVELOPE_KEYS.length || keys.some((k, i) => k !== ENVELOPE_KEYS[i]))
    return false;
  const e = x as Record<string, unknown>;
  if (e.v !== ENVELOPE_VERSION || e.alg !== ENVELOPE_ALG || !isKid(e.kid)) return false;
  if (typeof e.n !== 'string' || e.n.length !== 32 || fromBase64url(e.n)?.length !== NONCE_BYTES)
    return false;
  if (typeof e.ct !== 'string') return false;
  const ct = fromBase64url(e.ct);
  return ct !== undefined && ct.length >= TAG_BYTES;
}

export function envelopeAad(
  purpose: Purpose,
  kid: string,
  binding: readonly (string | number)[],
): Uint8Array {
  return utf8(JSON.stringify([purpose, ENVELOPE_VERSION, ENVELOPE_ALG, kid, ...binding]));
}

/** Encrypts `plaintext` under `key` with a fresh random 24-byte nonce. */
export function sealEnvelope(
  key: Uint8Array,
  kid: string,
  purpose: Purpose,
  binding: readonly (string | number)[],
  plaintext: Uint8Array,
): Envelope {
  const nonce = randomBytes(NONCE_BYTES);
  const ct = aeadSeal(key, nonce, envelopeAad(purpose, kid, binding), plaintext);
  return { v: 1, alg: 'xchacha20-poly1305', kid, n: toBase64url(nonce), ct: toBase64url(ct) };
}

/**
 * Decrypts an envelope sealed by `sealEnvelope` with the same purpose and binding. Undefined
 * when `envelope` is not an envelope or does not authenticate (the caller names the error).
 */
export function openEnvelope(
  key: Uint8Array,
  purpose: Purpose,
  binding: readonly (string | number)[],
  envelope: unknown,
): Uint8Array | undefined {
  if (!isEnvelope(envelope)) return undefined;
  const nonce = fromBase64url(envelope.n);
  const ct = fromBase64url(envelope.ct);
  if (!nonce || !ct) return undefined;
  try {
    return aeadOpen(key, nonce, envelopeAad(purpose, envelope.kid, binding), ct);
  } catch {
    return undefined;
  }
}
