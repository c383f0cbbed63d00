import {
  changesQuerySchema,
  createLongPollBounds,
  emptyPullReply,
  type LongPollEviction,
} from '@journal/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Dispatcher, Pool } from 'undici';
import type { GatewayMetrics } from '../metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A held long-poll's tag: names it to the long-poll dispatcher (see `longPollTagHeader`). */
    longPollTag?: string;
  }
}

/**
 * Names a held long-poll's upstream call to the dispatcher, which takes it off again: it never
 * reaches sync. (A client's own `x-journal-*` headers are dropped before this is set.)
 */
export const LONG_POLL_TAG_HEADER = 'x-journal-gateway-long-poll';

/** Why a long-poll was answered early: the `reason` label of gateway_long_polls_answered_early_total. */
export type GatewayEarlyReason = 'per_user' | 'per_gateway';

const EARLY_REASON: Record<LongPollEviction, GatewayEarlyReason> = {
  per_user: 'per_user',
  total: 'per_gateway',
};

export interface LongPollLimiterOptions {
  /** LONG_POLL_MAX_PER_USER: long-polls this gateway holds at once for one user. */
  perUser: number;
  /** LONG_POLL_MAX_PER_GATEWAY: long-polls this gateway holds at once in all. */
  perGateway: number;
  /** gateway_long_polls_answered_early_total (metrics.ts). */
  answeredEarly: GatewayMetrics['longPollsAnsweredEarly'];
}

/**
 * Bounds on the long-polls (`GET /sync/changes` with `wait` > 0) one gateway holds: per user and
 * in all. When a new one goes over a bound, an older one (that user's oldest; for the gateway
 * bound, the oldest of the user holding the most) is answered at once with the empty page a
 * timed-out wait gives (200, `emptyPullReply(since)`), and its call to sync is cancelled, so its
 * upstream connection and sync's waiter are freed too. The new one is proxied as usual. Another
 * user's long-polls are never answered early because of this user's.
 *
 * Upstream calls of held long-polls go through `dispatcher`, which gives each one an
 * AbortSignal: a long-poll answered early, or whose client hung up, ends its upstream call at
 * once instead of holding a connection to sync until the wait's deadline.
 */
export function createLongPollLimiter(options: LongPollLimiterOptions) {
  const bounds = createLongPollBounds({ perUser: options.perUser, total: options.perGateway });
  const { answeredEarly } = options;
  for (const reason of Object.values(EARLY_REASON)) answeredEarly.inc({ reason }, 0);
  /** Upstream calls that can be cancelled, by tag. */
  const cancels = new Map<string, AbortController>();
  let tags = 0;

  return {
    /**
     * preHandler of the long-poll route (after the session check, the idle-pull answer and the
     * rate limit): counts a long-poll against the bounds, possibly answering older ones early.
     */
    async hold(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      if (!request.auth || reply.sent) return;
      // Only what sync would hold: a query it refuses is answered at once anyway.
      const query = changesQuerySchema.safeParse(request.query);
      if (!query.success || query.data.wait === 0) return;
      tags += 1;
      const tag = String(tags);
      const cancel = new AbortController();
      cancels.set(tag, cancel);
      request.longPollTag = tag;
      const held = bounds.hold(request.auth.userId, (reason) => {
        // Its answer may already be on its way (sync answered): then it is simply done.
        if (reply.sent || reply.raw.headersSent) return;
        answeredEarly.inc({ reason: EARLY_REASON[reason] });
        request.log.debug(
          { reason: EARLY_REASON[reason] },
          'long-poll answered early: too many held',
        );
        void reply.code(200).send(emptyPullReply(query.data.since));
        cancel.abort();
      });
      // 'close' comes once however the call ends: answered, failed, or the client gone.
      reply.raw.once('close', () => {
        held.release();
        cancels.delete(tag);
        // A client that hung up before its answer: its upstream call ends now.
        if (!reply.raw.writableFinished) cancel.abort();
      });
    },

    /** The long-poll's upstream request headers, tagged for `dispatcher` when it is held. */
    tagHeaders(request: FastifyRequest, headers: Record<string, unknown>): Record<string, unknown> {
      if (request.longPollTag) headers[LONG_POLL_TAG_HEADER] = request.longPollTag;
      return headers;
    },

    /**
     * The undici dispatcher for the long-poll proxy (reply-from takes any object with a
     * `request` method): one pool to `url`, and each tagged call gets its long-poll's signal.
     * `headersTimeout` and `bodyTimeout` are read by reply-from from this object.
     */
    dispatcher(url: string, pool: Pool.Options & { headersTimeout: number; bodyTimeout: number }) {
      const upstream = new Pool(url, pool);
      return {
        headersTimeout: pool.headersTimeout,
        bodyTimeout: pool.bodyTimeout,
        request(
          opts: Dispatcher.RequestOptions,
          callback: (err: Error | null, data: Dispatcher.ResponseData) => void,
        ): void {
          const headers = { ...(opts.headers as Record<string, string | undefined>) };
          const tag = headers[LONG_POLL_TAG_HEADER];
          delete headers[LONG_POLL_TAG_HEADER];
          const signal = tag === undefined ? undefined : cancels.get(tag)?.signal;
          upstream.request({ ...opts, headers, ...(signal ? { signal } : {}) }, callback);
        },
        close: () => upstream.close(),
        destroy: () => upstream.destroy(),
      };
    },
  };
}

export type LongPollLimiter = ReturnType<typeof createLongPollLimiter>;
