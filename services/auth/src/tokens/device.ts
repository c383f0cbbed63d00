import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { SigningKeys } from './keys.js';

/** The JOSE `typ` of a device token; access tokens carry `JWT`. */
export const DEVICE_TOKEN_TYPE = 'device+jwt';

export interface DeviceTokenOptions {
  keys: SigningKeys;
  issuer: string;
  /** The access tokens' audience; device tokens use `<audience>:device`, never accepted as one. */
  audience: string;
  ttlSeconds: number;
}

/** What a valid device token proves: this device signed in as this user before. */
export interface DeviceToken {
  /** The token's own id (`jti`): its failed logins are counted under it. */
  id: string;
  userId: string;
  /** The normalised (lower-case) username it was issued for. */
  username: string;
}

/**
 * Device tokens (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): an EdDSA JWT
 * signed with the access tokens' key, with `typ: device+jwt`, the audience `<JWT_AUDIENCE>:device`
 * (so neither kind of token is ever accepted as the other), and the claims `sub` (user id),
 * `usr` (normalised username), `jti` (random, 128 bits), `iat`, `exp`. Issued on every
 * successful login or registration; a login that presents a valid one for its username is
 * counted per device token instead of per username.
 */
export function createDeviceTokens(options: DeviceTokenOptions) {
  const audience = `${options.audience}:device`;

  async function issue(userId: string, username: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ usr: username })
      .setProtectedHeader({ alg: 'EdDSA', kid: options.keys.kid, typ: DEVICE_TOKEN_TYPE })
      .setSubject(userId)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuer(options.issuer)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + options.ttlSeconds)
      .sign(options.keys.privateKey);
  }

  /**
   * The token's claims when it is well signed, unexpired and issued for `username` (already
   * normalised); null for anything else (forged, expired, another user's, not a device token).
   */
  async function verify(token: string, username: string): Promise<DeviceToken | null> {
    try {
      const { payload } = await jwtVerify(token, options.keys.getKey, {
        algorithms: ['EdDSA'],
        typ: DEVICE_TOKEN_TYPE,
        issuer: options.issuer,
        audience,
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
        // A token may not claim to live longer than this process issues them for.
        maxTokenAge: options.ttlSeconds,
      });
      const { sub, jti, usr } = payload;
      if (typeof sub !== 'string' || typeof jti !== 'string' || usr !== username) return null;
      if (!/^[A-Za-z0-9_-]{16,64}$/.test(jti)) return null;
      return { id: jti, userId: sub, username: usr };
    } catch {
      return null;
    }
  }

  return { issue, verify, ttlSeconds: options.ttlSeconds };
}

export type DeviceTokens = ReturnType<typeof createDeviceTokens>;
