import type { Redis } from '../redis.js';
import { defineScripts } from '../redis-scripts.js';
import { type QuotaAmounts, quotaKey } from './model.js';

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

/** What one reservation script call answered. */
export type ReserveReply =
  | { status: 'missing' }
  | { status: 'refused'; field: keyof QuotaAmounts; usage: number; limit: number }
  | { status: 'reserved'; usage: QuotaAmounts };

/**
 * The quota counter's Redis contract, in one place: the key (`quotaKey`), its three scripts and
 * the plain read. Each call names one key.
 */
export function quotaCounter(redis: Redis, kind: string, ttlSeconds: number) {
  const scripts = defineScripts(redis, 'quota', {
    reserve: { keys: 1, lua: RESERVE },
    init: { keys: 1, lua: INIT },
    settle: { keys: 1, lua: SETTLE },
  });
  const ttl = String(ttlSeconds);
  return {
    /** Check-and-add `delta` against `limits` (0 = none) atomically. */
    async reserve(
      userId: string,
      delta: QuotaAmounts,
      limits: QuotaAmounts,
    ): Promise<ReserveReply> {
      const reply = (await scripts.reserve(
        quotaKey(userId, kind),
        String(delta.count),
        String(delta.bytes),
        String(Math.max(0, limits.count)),
        String(Math.max(0, limits.bytes)),
        ttl,
      )) as (number | string)[];
      const status = Number(reply[0]);
      if (status === 1) {
        return { status: 'reserved', usage: { count: Number(reply[1]), bytes: Number(reply[2]) } };
      }
      if (status === 0) {
        const field = reply[1] === 'count' ? 'count' : 'bytes';
        return { status: 'refused', field, usage: Number(reply[2]), limit: Number(reply[3]) };
      }
      return { status: 'missing' };
    },
    /** Creates the counter with `usage` only if it is still missing. */
    async init(userId: string, usage: QuotaAmounts): Promise<void> {
      await scripts.init(quotaKey(userId, kind), String(usage.count), String(usage.bytes), ttl);
    },
    /** Adds `delta` to an existing counter (a missing one stays missing). */
    async settle(userId: string, delta: QuotaAmounts): Promise<void> {
      await scripts.settle(quotaKey(userId, kind), String(delta.count), String(delta.bytes), ttl);
    },
    /** The counter, or null when it is missing. */
    async read(userId: string): Promise<QuotaAmounts | null> {
      const [count, bytes] = await redis.hmget(quotaKey(userId, kind), 'count', 'bytes');
      return count !== null && bytes !== null
        ? { count: Number(count), bytes: Number(bytes) }
        : null;
    },
  };
}

/**
 * True for a failure of Redis itself (connection, timeout, a reply error), false for anything
 * else (e.g. the store's recount failing, which is the store's error to report).
 */
export function isRedisError(err: unknown): boolean {
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
