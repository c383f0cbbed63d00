import { createTokenVerifier } from '@journal/shared';
import { SignJWT } from 'jose';
import type { SigningKeys } from './keys.js';

export interface AccessTokenOptions {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

/**
 * Access tokens: EdDSA JWTs with `kid` in the header and the claims `sub` (user id), `sid`
 * (session id), `iat`, `exp`, `iss`, `aud`. Verification is the shared verifier over this
 * service's own trusted keys, exactly what the gateway and the other services run.
 */
export function createAccessTokens(options: AccessTokenOptions) {
  const verify = createTokenVerifier(options.keys.getKey, {
    issuer: options.issuer,
    audience: options.audience,
    maxLifetimeSeconds: options.ttlSeconds,
  });

  async function issue(userId: string, sessionId: string) {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'EdDSA', kid: options.keys.kid, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + options.ttlSeconds)
      .sign(options.keys.privateKey);
    return { token, expiresIn: options.ttlSeconds };
  }

  return { issue, verify, ttlSeconds: options.ttlSeconds };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;
