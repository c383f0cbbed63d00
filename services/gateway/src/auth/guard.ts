import {
  bearerToken,
  isSessionLive,
  ProblemError,
  type Redis,
  type VerifiedToken,
} from '@journal/shared';
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The session lookup the guard started; settled with `true`/`false` or the Redis error. */
    sessionLive?: Promise<boolean | Error>;
  }
}

/**
 * The gateway's check of every non-public call: a bearer token with a good signature, `exp`,
 * `iss` and `aud`, whose session is live in Redis. Two hooks, so that the session lookup and the
 * rate-limit counter share one Redis round trip (the client auto-pipelines commands issued in
 * the same turn of the event loop):
 * - `start` (onRequest) verifies the token and issues the session lookup without waiting;
 * - the rate limit (onRequest, route level, so after `start`) counts against the token's user;
 * - `finish` (preHandler, before anything is proxied) waits for the lookup: an ended session is
 *   401; Redis unreachable surfaces its error, which the shared error handler answers with 503
 *   `upstream_unavailable` (fail closed).
 */
export function createGuard(
  verify: (token: string) => Promise<VerifiedToken>,
  redis: Redis,
  /** Which calls anyone may make: the operation matcher's answer (see operations.ts). */
  isPublicCall: (request: FastifyRequest) => boolean,
) {
  return {
    async start(request: FastifyRequest): Promise<void> {
      if (isPublicCall(request)) return;
      const token = bearerToken(request.headers.authorization);
      const verified = await verify(token);
      request.sessionLive = isSessionLive(redis, verified.sessionId, verified.userId).catch(
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      request.auth = verified;
      request.userId = verified.userId;
    },
    async finish(request: FastifyRequest): Promise<void> {
      if (!request.sessionLive) return;
      const live = await request.sessionLive;
      if (live instanceof Error) throw live;
      if (!live) throw new ProblemError('unauthorized', 'the session has ended');
    },
  };
}
