import { isSessionLive, type LiveSession, type Redis, sessionKey } from '@journal/shared';

/**
 * The live state of sessions in Redis, as the gateway reads it (shared/src/sessions.ts): the key
 * lives as long as the current access token, is renewed by every refresh, and is deleted the
 * moment the session ends, so revocation takes effect on the very next request.
 */
export function createLiveSessions(redis: Redis, ttlSeconds: number) {
  return {
    async put(sessionId: string, session: LiveSession): Promise<void> {
      await redis.set(sessionKey(sessionId), JSON.stringify(session), 'EX', ttlSeconds);
    },
    async remove(...sessionIds: string[]): Promise<void> {
      // One DEL per key: session keys of one user hash to different Redis Cluster slots, and a
      // multi-key DEL across slots fails with CROSSSLOT (docs/scaling.md).
      await Promise.all(sessionIds.map((id) => redis.del(sessionKey(id))));
    },
    isLive: (sessionId: string, userId: string) => isSessionLive(redis, sessionId, userId),
  };
}

export type LiveSessions = ReturnType<typeof createLiveSessions>;
