import { formatSyncHead, syncHeadKey } from '@journal/shared';
import { clearSyncHints } from '../../scripts/lib/backup.js';
import { auth, type BenchUser, push, pushBody, register, versionDoc } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { load, ok, sequence } from '../lib/measure.js';
import { rawVersions } from '../lib/raw.js';

/**
 * The hot path (issue 13): idle devices and new entries off the store.
 * - Empty pulls at the head with `BENCH_HEAD_LEVELS` entries of the SAME user stored (flat
 *   expected: answered from Redis), beside `GET /auth/me` through the gateway at the same level.
 * - Pushes of 500 new entries at each level against the raw driver's insert of 500 (sync's own
 *   `insertOrdered` on its own indexes, empty collection) measured in the same run.
 * - Four concurrent pushers and a cursor follower over `BENCH_CONCURRENT_ENTRIES` new entries:
 *   no 5xx, every entry seen exactly once, in order.
 */
/** Pushes of 500 measured at each level (and raw inserts of 500 for the baseline). */
const PUSHES = 10;

export const hotPath: Scenario = {
  name: '13 hot path',
  async run(ctx) {
    const { stack, report } = ctx;
    const gateway = stack.urls.gateway;
    const raw = await rawVersions(ctx);
    let rawRevision = 0;
    const rawInsert = await sequence(
      () => raw.insertOrdered(Array.from({ length: 500 }, () => versionDoc('raw', ++rawRevision))),
      PUSHES,
    );
    report.record(
      '13 push x500',
      'raw insertMany',
      'entries/s',
      rawInsert,
      undefined,
      undefined,
      500,
    );
    await raw.drop();

    // Four pushers and a follower over many new entries of one user (first: the levels below
    // fill the collection, and on a store that scans, a new user's first query reads all of it).
    const writer = await register(gateway, 'concurrent');
    const total = SETTINGS.concurrentEntries;
    const perPush = 100;
    const pushesEach = Math.ceil(total / perPush / 4);
    const statuses: Record<string, number> = {};
    const count = (status: number) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
    };
    const started = Date.now();
    const pushers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < pushesEach; i++) {
        const res = await fetch(`${gateway}/sync/push`, {
          method: 'POST',
          headers: { ...auth(writer), 'content-type': 'application/json' },
          body: pushBody(perPush),
        });
        await res.arrayBuffer();
        count(res.status);
      }
    });
    const expected = pushesEach * 4 * perPush;
    const follow = async (who: BenchUser) => {
      const seen = new Set<string>();
      let cursor = 0;
      let previous = 0;
      let repeats = 0;
      let outOfOrder = 0;
      const deadline = Date.now() + 600_000;
      while (seen.size < expected && Date.now() < deadline) {
        const res = await fetch(`${gateway}/sync/changes?since=${cursor}&limit=1000&wait=5`, {
          headers: auth(who),
        });
        count(res.status);
        if (res.status !== 200) {
          await res.arrayBuffer();
          continue;
        }
        const body = (await res.json()) as {
          changes: { id: string; revision: number }[];
          revision: number;
        };
        for (const entry of body.changes) {
          if (seen.has(entry.id)) repeats += 1;
          if (entry.revision !== previous + 1) outOfOrder += 1;
          previous = entry.revision;
          seen.add(entry.id);
        }
        cursor = body.revision;
      }
      return { seen: seen.size, repeats, outOfOrder };
    };
    const [followed] = await Promise.all([follow(writer), ...pushers]);
    const seconds = (Date.now() - started) / 1000;
    const errors = Object.entries(statuses)
      .filter(([s]) => Number(s) >= 500)
      .reduce((n, [, c]) => n + c, 0);
    report.extras.concurrentPushers = { expected, ...followed, statuses, seconds };
    report.rows.push({
      scenario: `13 4 pushers + follower, ${expected} entries`,
      path: 'gateway',
      unit: 'entries/s',
      rate: expected / seconds,
      p50: 0,
      p99: 0,
      errors,
      note: `follower saw ${followed.seen} (repeats ${followed.repeats}, out of order ${followed.outOfOrder}); statuses ${JSON.stringify(statuses)}`,
    });

    const levels = [...SETTINGS.headLevels].sort((a, b) => a - b);
    const user = await register(gateway, 'hot');
    /** The head as sync writes it (shared/src/sync-head.ts), in the store's generation. */
    const meta = ctx.db.collection<{ _id: string; value: string }>('sync_meta');
    const generation = (await meta.findOne({ _id: 'generation' }))?.value ?? null;
    const setHead = (userId: string, revision: number) =>
      ctx.redis.set(
        syncHeadKey(userId),
        formatSyncHead({ revision, observedAt: Date.now(), generation }),
        'PX',
        60_000,
      );
    const versions = ctx.db.collection('entry_versions');
    let stored = 0;
    for (const level of levels) {
      // The user's own entries, written as sync stores them (dense revisions from 1).
      while (stored < level) {
        const n = Math.min(5000, level - stored);
        await versions.insertMany(
          Array.from({ length: n }, (_, i) => versionDoc(user.userId, stored + i + 1)),
          { ordered: false },
        );
        stored += n;
      }
      // The raw inserts bypassed the head: set it to the highest revision, as the one query of a
      // head miss would (on FerretDB that query reads the whole collection: minutes at 1,000,000
      // entries, the store's scan the hot path keeps out of the way).
      await setHead(user.userId, stored);
      const pushed = await push(gateway, user, 1);
      stored = pushed.revision;
      const headers = auth(user);
      const me = await load({ url: `${gateway}/auth/me`, headers, durationSec: SETTINGS.duration });
      await setHead(user.userId, stored); // (fresh for the loads below, whatever their length)
      const empty = await load({
        url: `${gateway}/sync/changes?since=${pushed.revision}`,
        headers,
        durationSec: SETTINGS.duration,
      });
      const waited = await load({
        url: `${gateway}/sync/changes?since=${pushed.revision}&wait=1`,
        headers,
        connections: 50,
        durationSec: SETTINGS.duration,
      });
      report.record(`13 /auth/me +${level}`, 'gateway', 'req/s', me);
      report.record(
        `13 empty pull at head +${level}`,
        'gateway',
        'req/s',
        empty,
        undefined,
        `${((empty.requestsPerSec / me.requestsPerSec) * 100).toFixed(0)}% of /auth/me`,
      );
      report.record(
        `13 long-poll cycles (wait=1, 50 conn) +${level}`,
        'gateway',
        'req/s',
        waited,
        undefined,
        'each ends unwoken after 1 s',
      );
      // The long-polls of the load above end up to 1 s after it: let them, so that the pushes
      // are measured on their own.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const pushes = await sequence(
        () =>
          ok(`${gateway}/sync/push`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: pushBody(500),
          }),
        PUSHES,
      );
      stored += PUSHES * 500;
      report.record(
        `13 push x500 +${level}`,
        'gateway',
        'entries/s',
        pushes,
        rawInsert.requestsPerSec * 500,
        undefined,
        500,
      );
    }

    // The scenarios after this one measure their own data, not up to a million entries of ours:
    // the collection goes (FerretDB refuses a deleteMany of a million documents) and comes back
    // with sync's indexes; every head and recent set in Redis described it, so they go too.
    const cleanup = Date.now();
    await versions.drop();
    await ctx.entries.ensureIndexes();
    await clearSyncHints(ctx.redis, 'journal:');
    process.stderr.write(
      `  (hot path data removed in ${Math.round((Date.now() - cleanup) / 1000)} s)\n`,
    );
  },
};
