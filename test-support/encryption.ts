import { randomBytes } from 'node:crypto';
import { ENCRYPTED_CONTENT_TYPE, ENCRYPTED_FILE_MAGIC } from '@journal/shared';

/**
 * Ciphertext-shaped fixtures for the server's end-to-end encryption tests (docs/encryption.md).
 * The server never decrypts: random bytes of the right shapes are all it can check.
 */

export const ENCRYPTED_TYPE = ENCRYPTED_CONTENT_TYPE;

export const b64 = (bytes: number): string => randomBytes(bytes).toString('base64url');

/** An envelope: `kid`, a 24-byte nonce and `ctBytes` of "ciphertext" (16 at least). */
export function envelope(kid = 'Xk3mQ9vTz0A', ctBytes = 64) {
  return { v: 1, alg: 'xchacha20-poly1305', kid, n: b64(24), ct: b64(ctBytes) };
}

export const KID = 'Xk3mQ9vTz0A';

/** A content key entry of a bundle. */
export const contentKey = (kid: string) => ({ kid, wrapped: envelope('master', 48) });

/** A `bundle` of `PUT /auth/encryption`, valid, with `over` applied. */
export function bundleWrite(over: Record<string, unknown> = {}) {
  return {
    state: 'migrating',
    kdf: { alg: 'argon2id', salt: b64(16), m: 65_536, t: 3, p: 1 },
    passwordWrappedKey: envelope('password', 48),
    recoveryWrappedKey: envelope('recovery', 48),
    contentKeys: [contentKey(KID)],
    currentKid: KID,
    migration: { deviceId: 'device-a', leaseSeconds: 120 },
    ...over,
  };
}

/** An encrypted file's bytes as the server sees them: the magic, then `size - 8` random bytes. */
export function encryptedFile(size = 1024): Buffer {
  return Buffer.concat([Buffer.from(ENCRYPTED_FILE_MAGIC), randomBytes(Math.max(0, size - 8))]);
}
