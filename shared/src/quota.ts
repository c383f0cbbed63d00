import { ProblemError } from './errors.js';
import { distinctWarnings, type Logger } from './logger.js';
import type { Redis } from './redis.js';

/**
 * Per-account quotas (docs/scaling.md, "Quotas"). Each service counts what it stores in a
 * Redis hash per user and kind, `<prefix>quota:{<userId>}:<kind>` with fields `count` and
 * `bytes`: a hint rebuilt from the store whenever it is missing (expired, evicted, lost), never
 * the arbiter of what exists. A write first reserves its increase with one atomic script (check
 * against the limits, then add), writes, then settles (adds what was written minus what was
 * reserved). Concurrent writers of one user are serialised by Redis, so the counter is exact
 * except for the bounded cases documented there.
 */

/** What a quota counter holds: a number of items and their bytes. */
export interface QuotaAmounts {
  count: number;
  bytes: number;
}

/** Limits of one kind; 0 = unlimited. */
export type QuotaLimits = QuotaAmounts;

/** The public names of a kind's two quotas, e.g. `entries` and `entryBytes`. */
export interface QuotaNames {
  count: string;
  bytes: string;
}

/** One quota as the usage calls answer it: `limit` null when unlimited. */
export interface QuotaReading {
  usage: number;
  limit: number | null;
}

/** How long an unused counter lives (refreshed by every reservation and settlement). */
export const QUOTA_COUNTER_TTL_SECONDS = 3600;

/** The key, relative to the client's REDIS_KEY_PREFIX; `{userId}` keeps a user's keys in one slot. */
export function quotaKey(userId: string, kind: string): string {
  return `quota:{${userId}}:${kind}`;
}

/**
 * ARGV: count delta, bytes delta, count limit, bytes limit (0 = none), TTL seconds. Returns
 * {-1} when the counter is missing (recount first), {0, field, usage, limit} when a delta that
 * increases usage would take it above its limit, else {1, count, bytes} after adding.
 */
const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local c = tonumber(redis.call('HGET', KEYS[1], 'count') or '0')
local b = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
local dc = tonumber(ARGV[1])
local db = tonumber(ARGV[2])
local lc = tonumber(ARGV[3])
local lb = tonumber(ARGV[4])
if dc > 0 and lc > 0 and c + dc > lc then return {0, 'count', c, lc} end
if db > 0 and lb > 0 and b + db > lb then return {0, 'bytes', b, lb} end
if dc ~= 0 then c = redis.call('HINCRBY', KEYS[1], 'count', dc) end
if db ~= 0 then b = redis.call('HINCRBY', KEYS[1], 'bytes', db) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, c, b}
`;

/** ARGV: count, bytes, TTL seconds. Creates the counter only if it is still missing. */
const INIT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'count', ARGV[1], 'bytes', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

/** ARGV: count delta, bytes delta, TTL seconds. Adds only to an existing counter. */
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'count', ARGV[1]) end
if tonumber(ARGV[2]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`;

interface QuotaCommands {
  quotaReserve(key: string, ...args: string[]): Promise<(number | string)[]>;
  quotaInit(key: string, ...args: string[]): Promise<number>;
  quotaSettle(key: string, ...args: string[]): Promise<number>;
}

/** The pure check the script makes, for the fallback without Redis (and unit tests). */
export function quotaRefusal(
  usage: QuotaAmounts,
  delta: QuotaAmounts,
  limits: QuotaLimits,
): { field: keyof QuotaAmounts; usage: number; limit: number } | null {
  for (const field of ['count', 'bytes'] as const) {
    const limit = limits[field];
    if (delta[field] > 0 && limit > 0 && usage[field] + delta[field] > limit) {
      return { field, usage: usage[field], limit };
    }
  }
  return null;
}

/** The 403 `quota_exceeded` problem: names the quota, its limit, the usage and the request. */
export function quotaExceeded(
  name: string,
  limit: number,
  usage: number,
  requested: number,
): ProblemError {
  return new ProblemError(
    'quota_exceeded',
    `the ${name} quota is ${limit} and ${usage} is used; this request needs ${requested} more. ` +
      'Nothing of it was stored: delete something first (deletions are always accepted)',
    { extensions: { quota: name, limit, usage, requested } },
  );
}

/** What a reservation hands back: settle once with what was actually written. */
export interface QuotaReservation {
  /** The usage right after the reservation (null when Redis was not used). */
  readonly usage: QuotaAmounts | null;
  /** Adds `actual - reserved` to the counter (a refund when less was written); once. */
  settle(actual: QuotaAmounts): Promise<void>;
  /** Reserves `more` on top (a streamed upload growing); throws quota_exceeded past a limit. */
  extend(more: QuotaAmounts): Promise<void>;
}

export interface QuotaOptions {
  /** The shared client (key prefix set, no offline queue). */
  redis: Redis;
  /** The counter's kind in its key, e.g. `entries`, `attachments`. */
  kind: string;
  names: QuotaNames;
  limits: QuotaLimits;
  /** The user's current usage read from the store (a streamed scan projecting sizes only). */
  recount: (userId: string) => Promise<QuotaAmounts>;
  logger?: Logger;
  ttlSeconds?: number;
}

/**
 * One kind's quota counters. Every Redis failure falls back to the store: the check is then a
 * recount (no reservation, nothing to settle), never a refusal or a 5xx for Redis alone.
 */
export function createQuota(options: QuotaOptions) {
  const { redis, kind, names, limits } = options;
  const ttl = String(options.ttlSeconds ?? QUOTA_COUNTER_TTL_SECONDS);
  const warnings = distinctWarnings(options.logger);
  const unlimited = limits.count <= 0 && limits.bytes <= 0;
  if (!('quotaReserve' in redis)) {
    redis.defineCommand('quotaReserve', { numberOfKeys: 1, lua: RESERVE });
    redis.defineCommand('quotaInit', { numberOfKeys: 1, lua: INIT });
    redis.defineCommand('quotaSettle', { numberOfKeys: 1, lua: SETTLE });
  }
  const commands = redis as unknown as QuotaCommands;

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
    await commands.quotaInit(quotaKey(userId, kind), String(usage.count), String(usage.bytes), ttl);
    return usage;
  }

  /** One atomic check-and-add; null when Redis failed (the caller falls back to the store). */
  async function reserveInRedis(userId: string, delta: QuotaAmounts): Promise<QuotaAmounts | null> {
    const key = quotaKey(userId, kind);
    try {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const reply = await commands.quotaReserve(
          key,
          String(delta.count),
          String(delta.bytes),
          String(Math.max(0, limits.count)),
          String(Math.max(0, limits.bytes)),
          ttl,
        );
        const status = Number(reply[0]);
        if (status === 1) {
          warnings.reset();
          return { count: Number(reply[1]), bytes: Number(reply[2]) };
        }
        if (status === 0) {
          const field = reply[1] === 'count' ? 'count' : 'bytes';
          throw refuse(field, Number(reply[2]), Number(reply[3]), delta);
        }
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
      await commands.quotaSettle(
        quotaKey(userId, kind),
        String(delta.count),
        String(delta.bytes),
        ttl,
      );
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
      const [count, bytes] = await redis.hmget(quotaKey(userId, kind), 'count', 'bytes');
      if (count !== null && bytes !== null) return { count: Number(count), bytes: Number(bytes) };
      return await rebuild(userId);
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

/**
 * True for a failure of Redis itself (connection, timeout, a reply error), false for anything
 * else (e.g. the store's recount failing, which is the store's error to report).
 */
function isRedisError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const name = err.name;
  return (
    name === 'ReplyError' ||
    name === 'MaxRetriesPerRequestError' ||
    name === 'ClusterAllFailedError' ||
    /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Failed to refresh slots cache|None of startup nodes/i.test(
      err.message,
    )
  );
}
