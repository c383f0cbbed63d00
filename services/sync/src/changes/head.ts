import {
  defineScripts,
  distinctWarnings,
  type Logger,
  parseSyncHead,
  type Redis,
  type SyncHead,
  syncHeadKey,
} from '@journal/shared';

export interface HeadsOptions {
  /** The shared client (key prefix set, no offline queue). */
  redis: Redis;
  /** How long a head lives after its observation; bounds the delay a lost raise can cause. 0: off. */
  ttlMs: number;
  /**
   * How old a head may be to guess the next revision from (at most the TTL). Must stay well
   * under the tombstone retention: only slots purged after retention can be free below the max.
   */
  guessWindowMs: number;
  logger: Logger;
  /**
   * The store generation this process serves (store/generation.ts). Heads carry it: one of
   * another generation (or of none, the older two-part form) counts as no head, and a raise
   * replaces it.
   */
  generation: () => string;
}

/**
 * Raises `KEYS[1]` to revision ARGV[1] observed at ARGV[2] in generation ARGV[4], with a
 * lifetime of ARGV[3] ms, unless it holds, in that same generation, a higher revision or the
 * same revision observed no earlier. Within a generation it only ever raises; a head and its
 * lifetime come from one observation, so a late raise cannot extend an old one. A head of
 * another generation (a restore replaced the store), malformed or in the two-part form of
 * older versions, describes another revision sequence: it is replaced.
 */
const RAISE = `
local current = redis.call('GET', KEYS[1])
local revision = tonumber(ARGV[1])
local observed = tonumber(ARGV[2])
if current then
  local first = string.find(current, ':', 1, true)
  local second = first and string.find(current, ':', first + 1, true)
  if second and string.sub(current, second + 1) == ARGV[4] then
    local curRevision = tonumber(string.sub(current, 1, first - 1))
    local curObserved = tonumber(string.sub(current, first + 1, second - 1))
    if curRevision and curObserved then
      if curRevision > revision then return 0 end
      if curRevision == revision and curObserved >= observed then return 0 end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[4], 'PX', ARGV[3])
return 1
`;

/**
 * Per-user head revisions in Redis (`<prefix>sync:head:<userId>`), so that idle pulls and
 * long-poll cycles answer without MongoDB and pushes of new entries guess their revisions.
 * Every failure reads as "no head" (the caller queries MongoDB), every raise failure is
 * logged and ignored: the head is an optimisation, MongoDB's unique indexes the arbiter.
 */
export function createHeads(options: HeadsOptions) {
  const { redis, ttlMs, logger, generation } = options;
  const guessWindowMs = Math.min(options.guessWindowMs, ttlMs);
  const scripts = defineScripts(redis, 'syncHead', { raise: { keys: 1, lua: RAISE } });
  const warnings = distinctWarnings(logger);

  return {
    enabled: ttlMs > 0,

    /** The store generation heads are written in (this process's current one). */
    generation,

    /**
     * The user's head, or null when there is none, it is off, Redis did not answer, or it is
     * of another store generation than this process's (a head from before a restore).
     */
    async get(userId: string): Promise<SyncHead | null> {
      if (ttlMs <= 0) return null;
      try {
        const head = parseSyncHead(await redis.get(syncHeadKey(userId)));
        warnings.reset();
        return head?.generation === generation() ? head : null;
      } catch (err) {
        warnings.warn(err, 'sync head: Redis read failed; querying MongoDB');
        return null;
      }
    },

    /** A head young enough to guess the next revision from (see `guessWindowMs`). */
    guessable(head: SyncHead | null, now = Date.now()): head is SyncHead {
      return head !== null && now - head.observedAt < guessWindowMs;
    },

    /**
     * Records that `revision` was visible at `observedAt` (taken before the proving query or
     * insert was sent), in this process's current generation. Never lowers a head of that
     * generation; replaces one of another.
     */
    async raise(userId: string, revision: number, observedAt: number): Promise<void> {
      if (ttlMs <= 0) return;
      const remaining = observedAt + ttlMs - Date.now();
      if (remaining <= 0) return;
      try {
        await scripts.raise(
          syncHeadKey(userId),
          String(revision),
          String(observedAt),
          String(Math.ceil(remaining)),
          generation(),
        );
      } catch (err) {
        warnings.warn(err, 'sync head: Redis raise failed (pulls query MongoDB until it is back)');
      }
    },
  };
}

export type Heads = ReturnType<typeof createHeads>;
