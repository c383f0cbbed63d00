import {
  changesQuerySchema,
  emptyPullReply,
  parseSyncHead,
  type Redis,
  type SyncHead,
  syncHeadKey,
  syncOperations,
} from '@journal/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Call } from '../operations.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** An idle-pull candidate's head lookup, issued beside the session lookup. */
    syncHead?: { since: number; generation?: string; head: Promise<SyncHead | null> };
  }
}

/**
 * Idle pulls answered at the gateway: a `GET /sync/changes` without `wait` whose cursor is at
 * or above the user's head in Redis (docs/sync.md, "The head in Redis") gets the empty reply
 * sync itself would give, with no hop to sync and no extra Redis round trip (the head is read
 * in the same pipelined write as the session lookup and the rate-limit counter). A pull that
 * carries a store `generation` is answered only when the head is of that same generation: a
 * cursor from before a restore may be above the restored store's head, and only sync, which
 * knows the store's generation, answers it (410). Anything else (a cursor below the head, no
 * head, a head of another or of an unknown generation, Redis failing, a long-poll, a query sync
 * would refuse) is proxied as before, so sync stays the one place that decides.
 */
export function createIdlePulls(redis: Redis, callOf: (request: FastifyRequest) => Call) {
  return {
    /** onRequest, right after the guard's `start` (same turn: same Redis write). */
    start(request: FastifyRequest, userId: string): void {
      if (callOf(request).operation !== syncOperations.changes) return;
      const query = changesQuerySchema.safeParse(request.query);
      if (!query.success || query.data.wait !== 0) return;
      request.syncHead = {
        since: query.data.since,
        ...(query.data.generation !== undefined ? { generation: query.data.generation } : {}),
        head: redis.get(syncHeadKey(userId)).then(parseSyncHead, () => null),
      };
    },

    /** preHandler, after the session was found live. */
    async answer(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const candidate = request.syncHead;
      if (!candidate) return;
      const head = await candidate.head;
      if (!head || candidate.since < head.revision) return;
      if (candidate.generation !== undefined && candidate.generation !== head.generation) return;
      await reply.code(200).send(emptyPullReply(candidate.since, head.generation));
    },
  };
}
