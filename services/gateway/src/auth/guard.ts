import {
  bearerToken,
  isSessionLive,
  ProblemError,
  type Redis,
  type VerifiedToken,
  type VerifyAccessToken,
} from '@journal/shared';
import type { FastifyRequest } from 'fastify';

/** Calls anyone may make; everything else routed upstream needs a live session. */
const PUBLIC_CALLS = new Set([
  'POST /auth/register',
  'POST /auth/login',
  'POST /auth/refresh',
  'POST /storage/qiniu/callback',
]);

export function isPublicCall(method: string, url: string): boolean {
  const query = url.indexOf('?');
  return PUBLIC_CALLS.has(`${method} ${query === -1 ? url : url.slice(0, query)}`);
}

/**
 * Verified tokens by token text, so a token's signature is checked once, not on every request.
 * Bounded; an entry is dropped when its token expires. The session is still checked in Redis
 * on every request, so a revoked session is refused at once.
 */
export function createTokenCache(verify: VerifyAccessToken, maxEntries = 10_000) {
  const cache = new Map<string, VerifiedToken>();
  return async function verifyCached(token: string): Promise<VerifiedToken> {
    const hit = cache.get(token);
    if (hit) {
      if (hit.expiresAt * 1000 > Date.now()) return hit;
      cache.delete(token);
      throw new ProblemError('token_expired', 'the access token has expired');
    }
    const verified = await verify(token);
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next().value;
      if (oldest !== undefined) cache.delete(oldest);
    }
    cache.set(token, verified);
    return verified;
  };
}

/**
 * The gateway's check of every non-public call: a bearer token with a good signature, `exp`,
 * `iss` and `aud`, whose session is live in Redis. Redis unreachable: fail closed with 503.
 */
export function createGuard(verify: (token: string) => Promise<VerifiedToken>, redis: Redis) {
  return async function guard(request: FastifyRequest): Promise<void> {
    if (isPublicCall(request.method, request.url)) return;
    const token = bearerToken(request.headers.authorization);
    const verified = await verify(token);
    if (!(await isSessionLive(redis, verified.sessionId, verified.userId))) {
      throw new ProblemError('unauthorized', 'the session has ended');
    }
    request.auth = verified;
    request.userId = verified.userId;
  };
}
