import { ProblemError } from '../errors.js';
import { distinctWarnings } from '../logger.js';
import { isRedisError, quotaCounter } from './counter.js';
import {
  QUOTA_COUNTER_TTL_SECONDS,
  type QuotaAmounts,
  type QuotaOptions,
  type QuotaReading,
  type QuotaReservation,
  quotaExceeded,
  quotaRefusal,
} from './model.js';
/**
 * One kind's quota counters. Every Redis failure falls back to the store: the check is then a
 * recount (no reservation, nothing to settle), never a refusal or a 5xx for Redis alone.
 */
export function createQuota(options: QuotaOptions) {
  const { redis, kind, names, limits } = options;
  const counter = quotaCounter(redis, kind, options.ttlSeconds ?? QUOTA_COUNTER_TTL_SECONDS);
  const warnings = distinctWarnings(options.logger);
  const unlimited = limits.count <= 0 && limits.bytes <= 0;

  // Concurrent misses of one user in this process share one recount.
  const recounts = new Map<string, Promise<QuotaAmounts>>();
  function recount(userId: string): Promise<QuotaAmounts> {
    let pending = recounts.get(userId);
    if (!pending) {
      pending = options.recount(userId).finally(() => recounts.delete(userId));
      recounts.set(userId, pending);
    }
    return pending;
  }

  function refuse(field: keyof QuotaAmounts, usage: number, limit: number, delta: QuotaAmounts) {
    return quotaExceeded(names[field], limit, usage, delta[field]);
  }

  /** Rebuilds a missing counter from the store (kept only if still missing). */
  async function rebuild(userId: string): Promise<QuotaAmounts> {
    const usage = await recount(userId);
    await counter.init(userId, usage);
    return usage;
  }

  /** One atomic check-and-add; null when Redis failed (the caller falls back to the store). */
  async function reserveInRedis(userId: string, delta: QuotaAmounts): Promise<QuotaAmounts | null> {
    try {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const reply = await counter.reserve(userId, delta, limits);
        if (reply.status === 'reserved') {
          warnings.reset();
          return reply.usage;
        }
        if (reply.status === 'refused') throw refuse(reply.field, reply.usage, reply.limit, delta);
        await rebuild(userId);
      }
      // Missing again right after a rebuild (evicted at once): decide from the store.
      return null;
    } catch (err) {
      if (err instanceof ProblemError) throw err;
      if (!isRedisError(err)) throw err;
      warnings.warn(err, 'quota: Redis failed; checking against the store');
      return null;
    }
  }

  async function settle(userId: string, delta: QuotaAmounts): Promise<void> {
    if (delta.count === 0 && delta.bytes === 0) return;
    try {
      await counter.settle(userId, delta);
    } catch (err) {
      // Left too high (or too low) until the counter expires and is recounted.
      warnings.warn(err, 'quota: settling in Redis failed');
    }
  }

  /**
   * Reserves `delta` for a write of `userId`: throws 403 quota_exceeded when a part of it that
   * increases usage would take usage above its limit. Decreases are always accepted.
   */
  async function reserve(userId: string, delta: QuotaAmounts): Promise<QuotaReservation> {
    const reserved = { ...delta };
    let settled = false;
    let usage: QuotaAmounts | null = null;
    let counted = true;
    if (delta.count !== 0 || delta.bytes !== 0) {
      usage = await reserveInRedis(userId, delta);
      if (!usage) {
        counted = false;
        if (!unlimited && (delta.count > 0 || delta.bytes > 0)) {
          const refusal = quotaRefusal(await recount(userId), delta, limits);
          if (refusal) throw refuse(refusal.field, refusal.usage, refusal.limit, delta);
        }
      }
    }
    return {
      usage,
      async settle(actual) {
        if (settled) return;
        settled = true;
        if (!counted) return;
        await settle(userId, {
          count: actual.count - reserved.count,
          bytes: actual.bytes - reserved.bytes,
        });
      },
      async extend(more) {
        if (settled) throw new Error('quota reservation already settled');
        if (!counted) {
          if (!unlimited) {
            const now = await recount(userId);
            const total = {
              count: reserved.count + more.count,
              bytes: reserved.bytes + more.bytes,
            };
            const refusal = quotaRefusal(now, total, limits);
            if (refusal) throw refuse(refusal.field, refusal.usage, refusal.limit, total);
          }
          reserved.count += more.count;
          reserved.bytes += more.bytes;
          return;
        }
        const after = await reserveInRedis(userId, more);
        if (after) {
          usage = after;
        } else {
          // Redis failed midway: what is reserved so far stays until settled (or expiry).
          const now = await recount(userId);
          const refusal = quotaRefusal(now, more, limits);
          if (refusal) {
            throw refuse(refusal.field, refusal.usage, refusal.limit, {
              count: reserved.count + more.count,
              bytes: reserved.bytes + more.bytes,
            });
          }
          return;
        }
        reserved.count += more.count;
        reserved.bytes += more.bytes;
      },
    };
  }

  /**
   * Adds `delta` for a change already made in the store (a deletion, an object reported
   * afterwards): to an existing counter only, since a missing one is recounted from the store,
   * which holds the change already. Never refused.
   */
  async function adjust(userId: string, delta: QuotaAmounts): Promise<void> {
    await settle(userId, delta);
  }

  /** The user's usage: the counter, or a recount when it is missing or Redis failed. */
  async function usage(userId: string): Promise<QuotaAmounts> {
    try {
      return (await counter.read(userId)) ?? (await rebuild(userId));
    } catch (err) {
      if (!isRedisError(err)) throw err;
      warnings.warn(err, 'quota: Redis failed; counting in the store');
      return recount(userId);
    }
  }

  /** The usage call's reading: each quota's usage and limit (null = unlimited). */
  async function reading(userId: string): Promise<Record<string, QuotaReading>> {
    const used = await usage(userId);
    return {
      [names.count]: { usage: used.count, limit: limits.count > 0 ? limits.count : null },
      [names.bytes]: { usage: used.bytes, limit: limits.bytes > 0 ? limits.bytes : null },
    };
  }

  return { kind, names, limits, reserve, adjust, usage, reading };
}

export type Quota = ReturnType<typeof createQuota>;
