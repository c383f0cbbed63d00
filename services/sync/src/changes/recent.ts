import {
  defineScripts,
  distinctWarnings,
  type Logger,
  type Redis,
  syncRecentKey,
} from '@journal/shared';
import type { PageText } from '../entries/json.js';

/**
 * A user's recent changes in Redis, so that a device following the feed live (a long-poll woken
 * by a push, a pull just below the head) reads what was just written without a MongoDB query:
 * a push costs its insert and nothing else, however many devices follow it.
 *
 * `<prefix>sync:recent:<userId>` is a sorted set scored by revision; each member is the JSON of
 * the change exactly as a pull serves it. A push adds its versions after their insert succeeded;
 * the set keeps the newest `maxEntries` and lives `maxAgeMs` after the last push.
 *
 * A page is served from it only when it holds EVERY revision from the cursor up (`since + 1`,
 * `since + 2`, … with no gap) and each of them is younger than `maxAgeMs`. Revisions are dense
 * and each is written once (the unique index), so such a run is exactly what the store holds
 * for those revisions; anything else (a set trimmed, expired, lost in a failover, an entry too
 * large to keep, a cursor further back) is a miss, answered by MongoDB as before. Why skipping
 * the purge-horizon check is safe here is in docs/sync.md, "Recent changes in Redis".
 */
export interface RecentOptions {
  redis: Redis;
  /** Most changes kept per user (0 turns the cache off). */
  maxEntries: number;
  /** How long a change is served from here after it was written; well under the retention. */
  maxAgeMs: number;
  /** Changes whose JSON is larger are not kept (a page that needs one reads MongoDB). */
  maxEntryBytes: number;
  logger: Logger;
}

export { syncRecentKey } from '@journal/shared';

/**
 * KEYS[1] the user's set; ARGV[1] entries kept, ARGV[2] lifetime in ms, then score/member
 * pairs. One script: the members, the trim and the lifetime land together.
 */
const APPEND = `
for i = 3, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/** A page's content budget (the same one MongoDB's pages have). */
export interface PageBudget {
  limit: number;
  maxContentBytes: number;
}

export function createRecentChanges(options: RecentOptions) {
  const { redis, maxEntries, maxAgeMs, maxEntryBytes, logger } = options;
  const enabled = maxEntries > 0 && maxAgeMs > 0;
  const scripts = defineScripts(redis, 'syncRecent', { append: { keys: 1, lua: APPEND } });
  const warnings = distinctWarnings(logger);

  return {
    enabled,

    /**
     * Adds changes just written (their insert succeeded). A failure is logged and ignored: the
     * gap it leaves makes pages over it read MongoDB.
     */
    async append(userId: string, entries: { revision: number; json: string }[]): Promise<void> {
      if (!enabled || entries.length === 0) return;
      const args: string[] = [String(maxEntries), String(maxAgeMs)];
      for (const entry of entries) {
        if (entry.json.length > maxEntryBytes) continue;
        args.push(String(entry.revision), entry.json);
      }
      if (args.length === 2) return;
      try {
        await scripts.append(syncRecentKey(userId), ...args);
        warnings.reset();
      } catch (err) {
        warnings.warn(err, 'sync recent changes: Redis write failed (pages read MongoDB)');
      }
    },

    /**
     * The page after `since` when Redis holds every revision from `since + 1` to the head (at
     * most `maxEntries` of them), all young enough; null otherwise (read MongoDB). A version of
     * an entry that a later one in the run replaces is dropped, as MongoDB's superseded mark does.
     */
    async page(
      userId: string,
      since: number,
      head: number,
      budget: PageBudget,
      now = Date.now(),
    ): Promise<PageText | null> {
      if (!enabled || head <= since || head - since > maxEntries) return null;
      let raw: string[];
      try {
        raw = await redis.zrange(
          syncRecentKey(userId),
          `(${since}`,
          '+inf',
          'BYSCORE',
          'LIMIT',
          0,
          head - since,
        );
      } catch (err) {
        warnings.warn(err, 'sync recent changes: Redis read failed (pages read MongoDB)');
        return null;
      }
      const run: Member[] = [];
      for (const text of raw) {
        const member = parseMember(text);
        if (!member || member.revision !== since + run.length + 1) break;
        if (now - Date.parse(member.updatedAt) > maxAgeMs) return null;
        run.push(member);
      }
      // Only a run to the head: a version it holds is replaced by a later one exactly when the
      // later one is in the run too, so dropping those is what MongoDB's superseded mark does.
      if (since + run.length < head) return null;
      return pageOf(run, since, budget);
    },
  };
}

export type RecentChanges = ReturnType<typeof createRecentChanges>;

/** A member: what a page needs of it, and its text as the reply carries it. */
export interface Member {
  id: string;
  revision: number;
  updatedAt: string;
  /** Bytes of its content's JSON (0 for a tombstone). */
  size: number;
  json: string;
}

function parseMember(json: string): Member | null {
  try {
    const entry = JSON.parse(json) as {
      id: unknown;
      revision: unknown;
      updatedAt: unknown;
      content: unknown;
    };
    if (
      !Number.isSafeInteger(entry.revision) ||
      typeof entry.id !== 'string' ||
      typeof entry.updatedAt !== 'string'
    ) {
      return null;
    }
    const size = entry.content === null ? 0 : JSON.stringify(entry.content).length;
    return {
      id: entry.id,
      revision: entry.revision as number,
      updatedAt: entry.updatedAt,
      size,
      json,
    };
  } catch {
    return null;
  }
}

/**
 * A page of a gap-free run of changes up to the head: versions replaced later in the run
 * dropped, at most `limit` changes and about `maxContentBytes` of content, `hasMore` when the
 * run goes on past the page.
 */
export function pageOf(
  run: Pick<Member, 'id' | 'revision' | 'size' | 'json'>[],
  since: number,
  budget: PageBudget,
): PageText {
  const last = new Map<string, number>();
  for (const entry of run) last.set(entry.id, entry.revision);
  const changes: string[] = [];
  let revision = since;
  let bytes = 0;
  let i = 0;
  for (; i < run.length; i++) {
    const entry = run[i] as Member;
    if (last.get(entry.id) !== entry.revision) {
      revision = entry.revision;
      continue;
    }
    if (changes.length >= budget.limit) break;
    if (changes.length > 0 && bytes + entry.size > budget.maxContentBytes) break;
    bytes += entry.size;
    changes.push(entry.json);
    revision = entry.revision;
  }
  return { changes, revision, hasMore: i < run.length };
}
