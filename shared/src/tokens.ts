import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { ProblemError } from './errors.js';
import { DependencyError, dependencyFailed } from './outside-faults.js';

export const ACCESS_TOKEN_ALGORITHMS = ['EdDSA', 'ES256'];

export interface VerifiedToken {
  userId: string;
  sessionId: string;
  issuedAt: number;
  expiresAt: number;
}

export interface TokenVerifierOptions {
  issuer: string;
  audience: string;
  /** A JWKS (`{"keys":[...]}`) or an array of public JWKs, as JSON text. */
  publicKeys?: string;
  /** URL of a JWKS to fetch and cache (the auth service's /.well-known/jwks.json). */
  jwksUrl?: string;
  /** Longest `exp - iat` accepted (JWT_ACCESS_TTL_SECONDS); unset: no bound. */
  maxLifetimeSeconds?: number;
}

/** How far a token's `iat` may lie in the future (clock skew between auth and this host). */
export const CLOCK_SKEW_SECONDS = 60;

export function parseJwks(text: string): JSONWebKeySet {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('JWT_PUBLIC_KEYS is not valid JSON');
  }
  const keys = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error('JWT_PUBLIC_KEYS must be a JWKS {"keys":[...]} with at least one key');
  }
  for (const key of keys as Record<string, unknown>[]) {
    if ('d' in key) throw new Error('JWT_PUBLIC_KEYS must hold public keys only');
    if (typeof key.kid !== 'string') throw new Error('every key in JWT_PUBLIC_KEYS needs a kid');
  }
  return { keys } as JSONWebKeySet;
}

/** The longest a fetch of JWT_JWKS_URL may take (DNS, connect and answer together). */
export const JWKS_TIMEOUT_MS = 3_000;

/**
 * Where the public keys come from: given keys win over a JWKS URL. A JWKS that cannot be had
 * (unresolvable, refused, black-holed or slow past JWKS_TIMEOUT_MS, a non-200 answer, a body
 * that is not a JWKS) is a `DependencyError` of `jwks`, counted: the caller answers 503, never
 * "invalid token" for a token nobody could check.
 */
export function keySource(options: TokenVerifierOptions): JWTVerifyGetKey {
  if (options.publicKeys) return createLocalJWKSet(parseJwks(options.publicKeys));
  if (options.jwksUrl) {
    const remote = createRemoteJWKSet(new URL(options.jwksUrl), {
      cacheMaxAge: 10 * 60_000,
      cooldownDuration: 30_000,
      timeoutDuration: JWKS_TIMEOUT_MS,
    });
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // The set was fetched, and the token's key is not in it (or ambiguous): the token's fault.
        if (
          err instanceof joseErrors.JWKSNoMatchingKey ||
          err instanceof joseErrors.JWKSMultipleMatchingKeys ||
          err instanceof joseErrors.JOSENotSupported
        ) {
          throw err;
        }
        throw dependencyFailed('jwks', 'fetching JWT_JWKS_URL failed', err);
      }
    };
  }
  throw new Error('no JWT public keys configured: set JWT_PUBLIC_KEYS or JWT_JWKS_URL');
}

/**
 * Verifies access tokens: signature (asymmetric algorithms only, so `alg: none` and HS256 signed
 * with a public key are refused), `exp`, `iss`, `aud`, and the `sub`/`sid` claims. A token
 * issued in the future (beyond CLOCK_SKEW_SECONDS) or for longer than `maxLifetimeSeconds` is
 * refused too: a leaked signing key, or a bug in auth, cannot mint tokens that outlive the
 * configured lifetime or the revocation records that cover it.
 */
export function createTokenVerifier(
  options: TokenVerifierOptions | JWTVerifyGetKey,
  claims?: {
    issuer: string;
    audience: string;
    maxLifetimeSeconds?: number;
  },
) {
  const getKey = typeof options === 'function' ? options : keySource(options);
  const issuer = typeof options === 'function' ? (claims?.issuer ?? '') : options.issuer;
  const audience = typeof options === 'function' ? (claims?.audience ?? '') : options.audience;
  const maxLifetime =
    typeof options === 'function' ? claims?.maxLifetimeSeconds : options.maxLifetimeSeconds;

  return async function verifyAccessToken(token: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        issuer,
        audience,
        algorithms: ACCESS_TOKEN_ALGORITHMS,
        requiredClaims: ['sub', 'sid', 'exp', 'iat'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new ProblemError('unauthorized', 'invalid access token');
      }
      const iat = payload.iat as number;
      const exp = payload.exp as number;
      if (iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) {
        throw new ProblemError('unauthorized', 'the access token was issued in the future');
      }
      if (maxLifetime !== undefined && exp - iat > maxLifetime) {
        throw new ProblemError('unauthorized', 'the access token lives longer than allowed');
      }
      return {
        userId: payload.sub,
        sessionId: payload.sid,
        issuedAt: payload.iat as number,
        expiresAt: payload.exp as number,
      };
    } catch (err) {
      if (err instanceof ProblemError || err instanceof DependencyError) throw err;
      if (err instanceof joseErrors.JWTExpired) {
        throw new ProblemError('token_expired', 'the access token has expired');
      }
      if (err instanceof joseErrors.JOSEError) {
        throw new ProblemError('unauthorized', 'invalid access token');
      }
      throw err;
    }
  };
}

export type VerifyAccessToken = ReturnType<typeof createTokenVerifier>;

/** Extracts the token from `Authorization: Bearer <token>`; 401 when absent or malformed. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw new ProblemError('unauthorized', 'missing bearer token');
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/i.exec(header);
  if (!match?.[1]) throw new ProblemError('unauthorized', 'malformed authorization header');
  return match[1];
}

/**
 * Verified tokens by token text (a bounded LRU), so a token's signature is checked once per
 * process, not on every request: the signature check is the largest CPU cost of a light call.
 * Only successful verifications are kept, and an entry is refused once its token expires.
 * Revocation is not a property of the token: the gateway checks the session in Redis, and
 * every service its revocation set (revocations.ts), on every request whatever this cache holds.
 */
export function cachedTokenVerifier(
  verify: VerifyAccessToken,
  maxEntries = 10_000,
): VerifyAccessToken {
  const cache = new Map<string, VerifiedToken>();
  return async function verifyCached(token: string): Promise<VerifiedToken> {
    const hit = cache.get(token);
    if (hit) {
      cache.delete(token);
      if (hit.expiresAt * 1000 <= Date.now()) {
        throw new ProblemError('token_expired', 'the access token has expired');
      }
      cache.set(token, hit); // most recently used last
      return hit;
    }
    let verified: VerifiedToken;
    try {
      verified = await verify(token);
    } catch (err) {
      if (err instanceof ProblemError) throw err;
      // Not a bad token: the JWKS (JWT_JWKS_URL) could not be fetched. Fail closed, retryably.
      throw new ProblemError('upstream_unavailable', 'the token signing keys are unavailable', {
        status: 503,
        headers: { 'retry-after': '5' },
        cause: err,
      });
    }
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(token, verified);
    return verified;
  };
}

/**
 * The verifier a service builds from its configuration (JWT_PUBLIC_KEYS, JWT_JWKS_URL, iss,
 * aud), with verified tokens cached.
 */
export function tokenVerifierFromConfig(config: {
  JWT_PUBLIC_KEYS?: string | undefined;
  JWT_JWKS_URL?: string | undefined;
  JWT_ISSUER: string;
  JWT_AUDIENCE: string;
  JWT_ACCESS_TTL_SECONDS: number;
}): VerifyAccessToken {
  return cachedTokenVerifier(
    createTokenVerifier({
      ...(config.JWT_PUBLIC_KEYS ? { publicKeys: config.JWT_PUBLIC_KEYS } : {}),
      ...(config.JWT_JWKS_URL ? { jwksUrl: config.JWT_JWKS_URL } : {}),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      maxLifetimeSeconds: config.JWT_ACCESS_TTL_SECONDS,
    }),
  );
}
