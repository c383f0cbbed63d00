import { randomUUID } from 'node:crypto';
import { defineScripts, idempotencyKeys, ProblemError, type Redis } from '@journal/shared';
import type { PushOutcome } from './push-reply.js';

/** A claim lives this long unless its push renews it (a killed process frees it after this). */
const LEASE_MS = 10_000;
/** A running push renews its claim this often: the claim outlives the push it guards. */
const RENEW_EVERY_MS = 3_000;
/** How long a repeat waits for the first request with its key before answering 409. */
const WAIT_FOR_FIRST_MS = 5_000;
const POLL_MS = 50;

/**
 * The two keys that hold a user's Idempotency-Key records, relative to the client's
 * REDIS_KEY_PREFIX (one hash slot: `{userId}`): a hash of key → record, and a sorted set of
 * key → time stored, which bounds their number and age.
 */
export { idempotencyKeys } from '@journal/shared';

/**
 * Shared by the scripts: forgets records older than the TTL (`ttl` ms before `now`), then the
 * oldest while the user's records take more than `max` bytes (each counted as its key and value
 * plus 160 for Redis's own structures, its hash field and sorted-set member; the running total
 * in the hash's `#bytes` field), and sets both keys' lifetime to the TTL.
 */
const TRIM = `
local function cost(f)
  return 2 * #f + redis.call('HSTRLEN', KEYS[1], f) + 160
end
local function forget(f)
  redis.call('HINCRBY', KEYS[1], '#bytes', -cost(f))
  redis.call('HDEL', KEYS[1], f)
  redis.call('ZREM', KEYS[2], f)
end
local function put(f, v)
  if redis.call('HEXISTS', KEYS[1], f) == 1 then
    redis.call('HINCRBY', KEYS[1], '#bytes', -cost(f))
  end
  redis.call('HSET', KEYS[1], f, v)
  redis.call('HINCRBY', KEYS[1], '#bytes', cost(f))
end
local function trim(now, ttl, max)
  for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)) do forget(f) end
  while tonumber(redis.call('HGET', KEYS[1], '#bytes') or '0') > max do
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
    if not oldest then break end
    forget(oldest)
  end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local function leased(v, now)
  if not v or string.sub(v, 1, 2) ~= 'p:' then return false end
  return tonumber(string.match(v, ':(%d+)$')) > now
end
`;

/**
 * KEYS replies, order; ARGV key, now, ttl, max, token, lease ms. Returns the record when one is
 * finished or under a live claim, else claims the key for `token` and returns 'claimed'.
 */
const CLAIM = `${TRIM}
local now = tonumber(ARGV[2])
trim(now, tonumber(ARGV[3]), tonumber(ARGV[4]))
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and (string.sub(v, 1, 2) == 'd:' or leased(v, now)) then return v end
put(ARGV[1], 'p:' .. ARGV[5] .. ':' .. (now + tonumber(ARGV[6])))
redis.call('ZADD', KEYS[2], now, ARGV[1])
trim(now, tonumber(ARGV[3]), tonumber(ARGV[4]))
return 'claimed'
`;

/** ARGV key, token, now, lease ms: extends the claim while it is still `token`'s. */
const RENEW = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
local mine = 'p:' .. ARGV[2] .. ':'
if v and string.sub(v, 1, #mine) == mine then
  redis.call('HSET', KEYS[1], ARGV[1], mine .. (tonumber(ARGV[3]) + tonumber(ARGV[4])))
  return 1
end
return 0
`;

/**
 * KEYS replies, order; ARGV key, now, ttl, max, record. The first push to finish under a key
 * stores its record; a later one gets the stored record back (every answer is the first reply).
 */
const FINISH = `${TRIM}
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, 2) == 'd:' then return v end
put(ARGV[1], 'd:' .. ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
trim(tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return 'stored'
`;

/** ARGV key, token: frees the key if `token` still holds its claim. */
const ABANDON = `${TRIM}
local v = redis.call('HGET', KEYS[1], ARGV[1])
local mine = 'p:' .. ARGV[2] .. ':'
if v and string.sub(v, 1, #mine) == mine then forget(ARGV[1]) end
return 1
`;

/**
 * What is stored for a finished push: the reply without any entry content, `a` the accepted
 * `[id, revision]` pairs, `c` the conflicts as `[id, revision of the version they conflicted
 * with, or 0 when the server had none]`, `v` the reply's revision. A replay reads the
 * conflicts' current versions again (push-reply.ts). At most 500 × 140 bytes, about 70 KiB,
 * with the longest ids (docs/scaling.md).
 */
interface StoredOutcome {
  a: [string, number][];
  c: [string, number][];
  v: number;
}

export function encodeOutcome(outcome: PushOutcome): string {
  return JSON.stringify({
    a: outcome.accepted.map((a) => [a.id, a.revision]),
    c: outcome.conflicts.map((c) => [c.id, c.currentRevision ?? 0]),
    v: outcome.revision,
  } satisfies StoredOutcome);
}

export function decodeOutcome(record: string): PushOutcome {
  const stored = JSON.parse(record) as StoredOutcome;
  return {
    accepted: stored.a.map(([id, revision]) => ({ id, revision })),
    conflicts: stored.c.map(([id, revision]) => ({
      id,
      currentRevision: revision === 0 ? null : revision,
    })),
    revision: stored.v,
  };
}

export type IdempotencyStart =
  | { kind: 'replay'; record: string }
  | { kind: 'claimed'; token: string };

export interface IdempotencyOptions {
  /** How long a finished push's record is replayed. */
  ttlSeconds: number;
  /** Most bytes of records kept per user; the oldest go first (SYNC_IDEMPOTENCY_MAX_BYTES). */
  maxBytes: number;
  /** A claim's lease and how often its push renews it (tests shorten them). */
  leaseMs?: number;
  renewEveryMs?: number;
}

/**
 * Idempotency-Key for pushes, in Redis, in two keys per user (`idempotencyKeys`): a claim
 * (`p:<token>:<lease end>`) while the first request runs, renewed by it, then the record of its
 * outcome (`d:<record>`) for the TTL. The bytes of records per user are bounded: the oldest go
 * first, and a repeat of a forgotten key runs again (accepted as identical, same revisions).
 */
export function createIdempotency(redis: Redis, options: IdempotencyOptions) {
  const scripts = defineScripts(redis, 'syncIdem', {
    claim: { keys: 2, lua: CLAIM },
    renew: { keys: 2, lua: RENEW },
    finish: { keys: 2, lua: FINISH },
    abandon: { keys: 2, lua: ABANDON },
  });
  const leaseMs = String(options.leaseMs ?? LEASE_MS);
  const ttlMs = String(options.ttlSeconds * 1000);
  const maxBytes = String(options.maxBytes);

  return {
    renewEveryMs: options.renewEveryMs ?? RENEW_EVERY_MS,

    async start(userId: string, key: string): Promise<IdempotencyStart> {
      const token = randomUUID();
      const deadline = Date.now() + WAIT_FOR_FIRST_MS;
      for (;;) {
        const now = String(Date.now());
        const value = (await scripts.claim(
          ...idempotencyKeys(userId),
          key,
          now,
          ttlMs,
          maxBytes,
          token,
          leaseMs,
        )) as string;
        if (value === 'claimed') return { kind: 'claimed', token };
        if (value.startsWith('d:')) return { kind: 'replay', record: value.slice(2) };
        if (Date.now() >= deadline) {
          throw new ProblemError(
            'conflict',
            'a push with this Idempotency-Key is still being processed; retry shortly',
            { headers: { 'retry-after': '1' } },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    },

    async renew(userId: string, key: string, token: string): Promise<void> {
      await scripts.renew(...idempotencyKeys(userId), key, token, String(Date.now()), leaseMs);
    },

    /**
     * Stores `record` unless a record is there already; returns the one that was there (then
     * it stands, not ours), or null when ours was stored.
     */
    async finish(userId: string, key: string, record: string): Promise<string | null> {
      const result = (await scripts.finish(
        ...idempotencyKeys(userId),
        key,
        String(Date.now()),
        ttlMs,
        maxBytes,
        record,
      )) as string;
      return result.startsWith('d:') ? result.slice(2) : null;
    },

    /** The first request failed: let a retry run instead of waiting for the claim to expire. */
    async abandon(userId: string, key: string, token: string): Promise<void> {
      await scripts.abandon(...idempotencyKeys(userId), key, token).catch(() => {});
    },
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;

/**
 * Runs `run` (a push) at most once per `(userId, key)` while its record lives: without a key it
 * simply runs; a repeat gets the first outcome again (even with another body); the claim is renewed while the push runs, so a slow push is never run twice; if two
 * runs ever finish (a claim lost to a stalled process), both answer the first stored outcome;
 * a failure frees the key so a retry runs afresh. An outcome that could not be stored is still
 * answered (the push is applied; a retry is accepted as identical).
 */
export async function withIdempotency(
  idempotency: Idempotency,
  userId: string,
  key: string | undefined,
  run: () => Promise<PushOutcome>,
): Promise<PushOutcome> {
  if (key === undefined) return run();
  const start = await idempotency.start(userId, key);
  if (start.kind === 'replay') return decodeOutcome(start.record);
  const renewal = setInterval(() => {
    idempotency.renew(userId, key, start.token).catch(() => {});
  }, idempotency.renewEveryMs);
  renewal.unref();
  let outcome: PushOutcome;
  try {
    outcome = await run();
  } catch (err) {
    clearInterval(renewal);
    await idempotency.abandon(userId, key, start.token);
    throw err;
  }
  clearInterval(renewal);
  try {
    const stored = await idempotency.finish(userId, key, encodeOutcome(outcome));
    return stored === null ? outcome : decodeOutcome(stored);
  } catch {
    // The push is applied; only the copy kept for replays is lost (Redis failing over). Answer
    // it, and free the key if Redis lets us: a retry then runs again and is accepted as
    // identical, with the same revisions, instead of waiting out the claim.
    await idempotency.abandon(userId, key, start.token);
    return outcome;
  }
}
