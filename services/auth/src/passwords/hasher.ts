import { randomBytes } from 'node:crypto';
import { hashPassword, type ScryptParams, scryptParams, verifyPassword } from './scrypt.js';

/**
 * Hashing at the configured cost, plus a dummy hash of the same cost so that a login for an
 * unknown user spends the same time as one with a wrong password.
 */
export function createPasswordHasher(logN: number) {
  const params: ScryptParams = scryptParams(logN);
  let dummy: Promise<string> | undefined;
  const dummyHash = () => {
    dummy ??= hashPassword(randomBytes(24).toString('base64url'), params);
    return dummy;
  };

  return {
    params,
    hash: (password: string) => hashPassword(password, params),
    verify: (password: string, stored: string) => verifyPassword(password, stored, params),
    /** Spends one verification's time and always fails. */
    async verifyDummy(password: string): Promise<false> {
      await verifyPassword(password, await dummyHash(), params);
      return false;
    },
    /** Makes the dummy hash ahead of the first login (called at start-up). */
    warmUp: () => dummyHash().then(() => undefined),
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
