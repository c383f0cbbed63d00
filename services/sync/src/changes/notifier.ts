import {
  createLongPollBounds,
  distinctWarnings,
  duplicateRedis,
  type Logger,
  type LongPollEviction,
  type Redis,
  syncUserChannelPrefix,
} from '@journal/shared';
import type { SyncMetrics } from '../metrics.js';

/**
 * Why a wait ended. `evicted`: this process holds too many long-polls for the user, or in all,
 * and this one is the oldest (see `NotifierOptions.limits`): it answers its empty page at once.
 */
export type WakeReason = 'notified' | 'timeout' | 'closed' | 'aborted' | 'evicted';

/** Why a long-poll was answered early: the `reason` label of sync_long_polls_answered_early_total. */
export type EarlyAnswerReason = 'per_user' | 'per_process';

/** A pull waiting for news about one user. Register before querying, so nothing slips by. */
export interface Waiter {
  /**
   * Resolves at once when a notification arrived since the last call, else at the next one,
   * at `deadline` (epoch ms), when the client goes away, or when the process shuts down.
   */
  next(deadline: number): Promise<WakeReason>;
  dispose(): void;
}

interface WaiterState {
  pending: boolean;
  evicted: boolean;
  wake?: (reason: WakeReason) => void;
}

export interface NotifierOptions {
  /** The shared client (key prefix set, no offline queue); used to publish. */
  redis: Redis;
  /** REDIS_KEY_PREFIX: channels are `<prefix>sync:user:<userId>`. */
  keyPrefix: string;
  logger: Logger;
  /**
   * SYNC_LONG_POLL_MAX_PER_USER and SYNC_LONG_POLL_MAX_PER_PROCESS: the most waiters held at once
   * for one user and in this process. Over either, the oldest waiter of that user (for the
   * process bound: of the user holding the most) ends at once with `evicted`; the new one waits.
   * Unbounded when left out.
   */
  limits?: { perUser: number; perProcess: number };
  /** sync_long_polls_answered_early_total (metrics.ts); none when left out. */
  answeredEarly?: SyncMetrics['longPollsAnsweredEarly'];
}

const EARLY_REASON: Record<LongPollEviction, EarlyAnswerReason> = {
  per_user: 'per_user',
  total: 'per_process',
};

/**
 * Wakes waiting pulls when a push for their user applied something, on any replica: pushes
 * PUBLISH on `<prefix>sync:user:<userId>`; each process holds ONE subscriber connection
 * (PSUBSCRIBE `<prefix>sync:user:*`) and an in-memory map of its waiters. Notifications are
 * only hints: a woken pull queries MongoDB, and a pull always ends at its deadline, so a lost
 * message (Redis down) costs latency, never a change.
 */
export function createChangeNotifier(options: NotifierOptions) {
  const channelPrefix = syncUserChannelPrefix(options.keyPrefix);
  const pattern = `${channelPrefix}*`;
  const waiters = new Map<string, Set<WaiterState>>();
  let closed = false;
  const bounds = createLongPollBounds({
    perUser: options.limits?.perUser ?? Number.MAX_SAFE_INTEGER,
    total: options.limits?.perProcess ?? Number.MAX_SAFE_INTEGER,
  });
  const { answeredEarly } = options;
  for (const reason of Object.values(EARLY_REASON)) answeredEarly?.inc({ reason }, 0);

  // The shared client fails commands while disconnected (no offline queue); the subscriber
  // must instead queue its PSUBSCRIBE until connected and subscribe again after reconnects.
  const subscriber = duplicateRedis(options.redis, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    autoResubscribe: true,
  });
  const warnings = distinctWarnings(options.logger);
  subscriber.on('error', (err: Error) => {
    warnings.warn(err, 'sync subscriber: Redis connection error');
  });
  let subscribed = false;
  const subscribe = () => {
    subscriber.psubscribe(pattern).then(
      () => {
        subscribed = true;
      },
      (err: Error) => {
        if (!closed) {
          options.logger.warn({ err: err.message }, 'sync subscriber: PSUBSCRIBE failed');
        }
      },
    );
  };
  subscriber.on('close', () => {
    subscribed = false;
  });
  subscriber.on('ready', () => {
    warnings.reset();
    subscribe();
  });
  subscriber.on('pmessage', (_pattern: string, channel: string) => {
    if (!channel.startsWith(channelPrefix)) return;
    const set = waiters.get(channel.slice(channelPrefix.length));
    if (!set) return;
    for (const state of set) {
      state.pending = true;
      state.wake?.('notified');
    }
  });

  /** Answers every waiting pull now (shutdown) and refuses to wait from here on. */
  function wakeAll(): void {
    closed = true;
    for (const set of waiters.values()) for (const state of set) state.wake?.('closed');
  }

  return {
    /** The subscriber has its subscription (tests wait for this before relying on wake-ups). */
    async ready(timeoutMs = 10_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (subscribed && subscriber.status === 'ready') return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('sync subscriber is not subscribed');
    },

    /**
     * A waiter for `userId`, counted against the limits: it may push out an older waiter (which
     * then ends with `evicted`), never itself. dispose() releases its place.
     */
    register(userId: string, signal?: AbortSignal): Waiter {
      const state: WaiterState = { pending: false, evicted: false };
      const held = bounds.hold(userId, (reason) => {
        state.evicted = true;
        answeredEarly?.inc({ reason: EARLY_REASON[reason] });
        state.wake?.('evicted');
      });
      let set = waiters.get(userId);
      if (!set) {
        set = new Set();
        waiters.set(userId, set);
      }
      set.add(state);
      const onAbort = () => state.wake?.('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
      return {
        next(deadline: number): Promise<WakeReason> {
          if (closed) return Promise.resolve('closed');
          if (signal?.aborted) return Promise.resolve('aborted');
          if (state.evicted) return Promise.resolve('evicted');
          if (state.pending) {
            state.pending = false;
            return Promise.resolve('notified');
          }
          return new Promise<WakeReason>((resolve) => {
            const timer = setTimeout(() => finish('timeout'), Math.max(0, deadline - Date.now()));
            const finish = (reason: WakeReason) => {
              clearTimeout(timer);
              state.wake = undefined;
              state.pending = false;
              resolve(reason);
            };
            state.wake = finish;
          });
        },
        dispose() {
          held.release();
          signal?.removeEventListener('abort', onAbort);
          state.wake?.('closed');
          const current = waiters.get(userId);
          current?.delete(state);
          if (current && current.size === 0) waiters.delete(userId);
        },
      };
    },

    /** Tells waiting pulls of `userId` on every replica that something changed. */
    async publish(userId: string, revision: number): Promise<void> {
      try {
        await options.redis.publish(`${channelPrefix}${userId}`, String(revision));
      } catch (err) {
        // The change is stored; waiting pulls still answer at their deadline.
        options.logger.warn({ err: (err as Error).message }, 'could not publish a sync wake-up');
      }
    },

    /**
     * Waiters counted against the limits now, in all or for one user (a waiter that was let go
     * leaves the count at once, before its reply is out).
     */
    held(userId?: string): number {
      return bounds.held(userId);
    },

    /** How many pulls are waiting in this process. */
    waiting(): number {
      let count = 0;
      for (const set of waiters.values()) count += set.size;
      return count;
    },

    wakeAll,

    async close(): Promise<void> {
      wakeAll();
      subscriber.disconnect();
    },
  };
}

export type ChangeNotifier = ReturnType<typeof createChangeNotifier>;
