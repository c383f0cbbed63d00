import { caller, ProblemError } from '@journal/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { LiveSessions } from '../sessions/live.js';

/**
 * The onRequest check of every authenticated auth call. A verified access token is not
 * enough: its session must still be live in Redis, so a request that reaches this service
 * around the gateway cannot use a revoked token either.
 */
export function liveSessionCheck(app: FastifyInstance, live: LiveSessions) {
  return async function requireLiveSession(request: FastifyRequest): Promise<void> {
    await app.authenticate(request, undefined as never);
    const { sessionId, userId } = caller(request);
    if (!(await live.isLive(sessionId, userId))) {
      throw new ProblemError('unauthorized', 'the session has ended');
    }
  };
}
