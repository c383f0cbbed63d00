import { defineScripts, ProblemError, type Redis, rateLimitKey } from '@journal/shared';

/**
 * Fixed-window counters in Redis. INCR and the window's expiry happen in one Lua script, so a
 * counter can never be left without an expiry and concurrent requests all count.
 * Keys: `ratelimit:<name>:<subject>` under the client's key prefix.
 */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
`;

const UNDO = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
`;

export interface Limit {
  name: string;
  max: number;
  windowSeconds: number;
}

export interface LimitState {
  count: number;
  /** Milliseconds until the window ends. */
  resetMs: number;
}

export function createRateLimiter(redis: Redis) {
  const key = (limit: Limit, subject: string) => rateLimitKey(limit.name, subject);

  const scripts = defineScripts(redis, 'ratelimit', {
    hit: { keys: 1, lua: HIT },
    undo: { keys: 1, lua: UNDO },
  });

  return {
    /** Counts one event against the limit. */
    async hit(limit: Limit, subject: string): Promise<LimitState> {
      const reply = await scripts.hit(key(limit, subject), limit.windowSeconds * 1000);
      const [count, ttl] = reply as [number, number];
      return { count, resetMs: Math.max(ttl, 0) };
    },
    /** Takes back one counted event (e.g. an attempt that turned out to succeed). */
    async undo(limit: Limit, subject: string): Promise<void> {
      await scripts.undo(key(limit, subject));
    },
    async reset(limit: Limit, subject: string): Promise<void> {
      await redis.del(key(limit, subject));
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

/** 429 rate_limited with Retry-After in whole seconds. */
export function rateLimited(resetMs: number, detail = 'too many attempts, try again later') {
  const seconds = Math.max(1, Math.ceil(resetMs / 1000));
  return new ProblemError('rate_limited', detail, {
    headers: { 'retry-after': String(seconds) },
  });
}
