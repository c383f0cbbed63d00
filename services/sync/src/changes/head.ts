import {
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
}

/**
 * Raises `KEYS[1]` to revision ARGV[1] observed at ARGV[2] with a lifetime of ARGV[3] ms, unless
 * it holds a higher revision, or the same revision observed no earlier. Only ever raises; a
 * head and its lifetime come from one observation, so a late raise cannot extend an old one.
 */
const RAISE = `
local current = redis.call('GET', KEYS[1])
local revision = tonumber(ARGV[1])
local observed = tonumber(ARGV[2])
if current then
  local sep = string.find(current, ':', 1, true)
  local curRevision = tonumber(string.sub(current, 1, sep - 1))
  local curObserved = tonumber(string.sub(current, sep + 1))
  if curRevision > revision then return 0 end
  if curRevision == revision and curObserved >= observed then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
return 1
`;

/** The raise script as a command of the client (EVALSHA, loaded once per connection). */
interface RaiseCommand {
  syncRaiseHead(key: string, revision: string, observedAt: string, ttlMs: string): Promise<number>;
}

/**
 * Per-user head revisions in Redis (`<prefix>sync:head:<userId>`), so that idle pulls and
 * long-poll cycles answer without MongoDB and pushes of new entries guess their revisions.
 * Every failure reads as "no head" (the caller queries MongoDB), every raise failure is
 * logged and ignored: the head is an optimisation, MongoDB's unique indexes the arbiter.
 */
export function createHeads(options: HeadsOptions) {
  const { redis, ttlMs, logger } = options;
  const guessWindowMs = Math.min(options.guessWindowMs, ttlMs);
  if (ttlMs > 0 && !('syncRaiseHead' in redis)) {
    redis.defineCommand('syncRaiseHead', { numberOfKeys: 1, lua: RAISE });
  }
  const raiseCommand = redis as unknown as RaiseCommand;
  const warnings = distinctWarnings(logger);

  return {
    enabled: ttlMs > 0,

    /** The user's head, or null when there is none, it is off, or Redis did not answer. */
    async get(userId: string): Promise<SyncHead | null> {
      if (ttlMs <= 0) return null;
      try {
        const head = parseSyncHead(await redis.get(syncHeadKey(userId)));
        warnings.reset();
        return head;
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
     * insert was sent). Never lowers a head.
     */
    async raise(userId: string, revision: number, observedAt: number): Promise<void> {
      if (ttlMs <= 0) return;
      const remaining = observedAt + ttlMs - Date.now();
      if (remaining <= 0) return;
      try {
        await raiseCommand.syncRaiseHead(
          syncHeadKey(userId),
          String(revision),
          String(observedAt),
          String(Math.ceil(remaining)),
        );
      } catch (err) {
        warnings.warn(err, 'sync head: Redis raise failed (pulls query MongoDB until it is back)');
      }
    },
  };
}

export type Heads = ReturnType<typeof createHeads>;
