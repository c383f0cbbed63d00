import {
  allOperations,
  bearerToken,
  isSessionLive,
  type Operation,
  ProblemError,
  type Redis,
  type VerifiedToken,
  type VerifyAccessToken,
} from '@journal/shared';
import type { FastifyRequest } from 'fastify';

/**
 * Which calls anyone may make: exactly the operations the shared table marks `auth: false`
 * (register, login, refresh, the Qiniu callback). Every other request under a routed prefix,
 * including paths no service knows, needs a live session, so an anonymous caller learns
 * nothing about which paths exist.
 */
export function createPublicCallMatcher(operations: Operation[] = allOperations) {
  const exact = new Set<string>();
  const patterns: { method: string; path: RegExp }[] = [];
  for (const op of operations) {
    if (op.auth) continue;
    if (op.path.includes(':')) {
      const source = op.path
        .split('/')
        .map((segment) =>
          segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('/');
      patterns.push({ method: op.method, path: new RegExp(`^${source}$`) });
    } else exact.add(`${op.method} ${op.path}`);
  }
  return function isPublicCall(method: string, url: string): boolean {
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (exact.has(`${method} ${path}`)) return true;
    for (const p of patterns) if (p.method === method && p.path.test(path)) return true;
    return false;
  };
}

/**
 * Verified tokens by token text (a bounded LRU), so a token's signature is checked once, not
 * on every request. An entry is refused once its token expires. The session is still checked
 * in Redis on every request, so a revoked session is refused at once.
 */
export function createTokenCache(verify: VerifyAccessToken, maxEntries = 10_000) {
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
        headers: { 'retry-after': '1' },
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
 * The gateway's check of every non-public call: a bearer token with a good signature, `exp`,
 * `iss` and `aud`, whose session is live in Redis. Redis unreachable: the Redis client's error
 * surfaces and the shared error handler answers 503 `upstream_unavailable` (fail closed).
 */
export function createGuard(
  verify: (token: string) => Promise<VerifiedToken>,
  redis: Redis,
  isPublicCall: (method: string, url: string) => boolean = createPublicCallMatcher(),
) {
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
