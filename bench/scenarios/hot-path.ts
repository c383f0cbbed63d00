import { formatSyncHead, parseSyncHead, quotaKey, syncHeadKey } from '@journal/shared';
import { clearSyncHints } from '../../scripts/lib/backup.js';
import { auth, type BenchUser, push, pushBody, register, versionDoc } from '../lib/client.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { hintVsStore } from '../lib/hint.js';
import { alternateRuns, load, ok, sequence } from '../lib/measure.js';
import { concurrentPushers } from './concurrent-pushers.js';
import { emptyPullCase } from './empty-pull.js';
import { encryptionRecord, insertAll } from './push-batches.js';

/** Pushes of 500 measured a round at each level (and raw inserts of 500 beside them). */
const PUSHES = 5;
/** Above this many stored entries a head miss outlasts the gateway's upstream timeout (10 s). */
const DIRECT_ONLY_ABOVE = 50_000;

/**
 * The hot path (issue 13): idle devices and new entries off the store.
 * - Four concurrent pushers and a cursor follower (concurrent-pushers.ts).
 * - At each of `BENCH_HEAD_LEVELS` entries of the SAME user stored (written with the raw driver,
 *   so the bench sets the head those writes bypassed, to their highest revision):
 *   - `GET /auth/me` through the gateway (the reference), empty pulls at the head and unwoken
 *     long-poll cycles (autocannon): all answered from the head in Redis;
 *   - the head miss: the empty pull with its head deleted before each pull, the one query of
 *     the highest revision that a head that expired costs (a whole collection scan on FerretDB),
 *     against the raw driver's same query; side by side with the pull that finds its head;
 *   - pushes of 500 new entries (head in Redis: the encryption record's `_id` lookup and one
 *     insert) against the raw driver's same lookup and insertMany of 500 into the same
 *     collection at the same level, in alternating rounds.
 */
export const hotPath: Scenario = {
  name: '13 hot path',
  async run(ctx) {
    const { stack, report } = ctx;
    const gateway = stack.urls.gateway;
    await concurrentPushers(ctx);

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
    let rawRevision = 0;
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
      // The raw inserts bypassed the head: set it to their highest revision, what the head miss
      // measured below would set.
      await setHead(user.userId, stored);
      // They bypassed the quota counter too (a hint in Redis, like the head): the first push
      // recounts the user's entries from the store (one streamed query over all of them) before
      // it reserves. Sent to sync directly (above ~50,000 entries on FerretDB it outlasts the
      // gateway's 10 s); above ~150,000 it outlasts sync's own 65 s connection timeout, so the
      // push may fail while the recount goes on and sets the counter: timed until it is set.
      const recount = await firstPushRecount(ctx, user, level);
      const pushed = recount.pushed ?? (await push(stack.urls.sync, user, 1));
      stored = pushed.revision;
      const headers = auth(user);
      const me = await load({ url: `${gateway}/auth/me`, headers, durationSec: SETTINGS.duration });
      await setHead(user.userId, stored); // (fresh for the loads below, whatever their length)
      const empty = await load({
        url: `${gateway}/sync/changes?since=${pushed.revision}`,
        headers,
        durationSec: SETTINGS.duration,
      });
      // 30 of one user: the gateway holds at most LONG_POLL_MAX_PER_USER (32) long-polls of a
      // user and answers the oldest at once beyond it (50 measured that eviction, not waits).
      const waited = await load({
        url: `${gateway}/sync/changes?since=${pushed.revision}&wait=1`,
        headers,
        connections: 30,
        durationSec: SETTINGS.duration,
      });
      report.record(`13 /auth/me +${level}`, 'gateway', 'req/s', me);
      report.record(
        `13 empty pull at head +${level}`,
        'gateway',
        'req/s',
        empty,
        undefined,
        `answered from the head in Redis; ${((empty.requestsPerSec / me.requestsPerSec) * 100).toFixed(0)}% of /auth/me`,
      );
      report.record(
        `13 long-poll cycles (wait=1, 30 conn) +${level}`,
        'gateway',
        'req/s',
        waited,
        undefined,
        waited.p50 >= 900 ? 'each ends unwoken after 1 s' : 'NOT held: ended before their 1 s',
      );
      // The long-polls of the load above end up to 1 s after it: let them, so that what
      // follows is measured on its own.
      await new Promise((resolve) => setTimeout(resolve, 1_500));

      // The head miss at this level, beside the pull that finds its head (one user: the miss
      // sets the head again for the next hinted run).
      const big = level > DIRECT_ONLY_ABOVE;
      await hintVsStore(ctx, {
        ...emptyPullCase(ctx, user, user, pushed.revision, `13 empty pull +${level}`),
        ...(big ? { paths: ['direct' as const], rounds: 1 } : {}),
      });

      const pushes = await alternateRuns(
        {
          gateway: () =>
            sequence(
              () =>
                ok(`${gateway}/sync/push`, {
                  method: 'POST',
                  headers: { ...headers, 'content-type': 'application/json' },
                  body: pushBody(500),
                }),
              PUSHES,
            ),
          raw: () =>
            sequence(async () => {
              const docs = Array.from({ length: 500 }, () => versionDoc('raw-hot', ++rawRevision));
              await encryptionRecord(ctx, 'raw-hot');
              await insertAll(ctx, docs);
            }, PUSHES),
        },
        SETTINGS.rounds,
      );
      const pushesOf = pushes.gateway;
      const rawOf = pushes.raw;
      if (!pushesOf || !rawOf) throw new Error('no push figures');
      report.record(
        `13 push x500 +${level}`,
        'gateway',
        'entries/s',
        pushesOf,
        rawOf.requestsPerSec * 500,
        'head in Redis: the encryption record lookup and one insert',
        500,
      );
      report.record(
        `13 push x500 +${level}`,
        'raw: encryption record lookup, insertMany of 500 (same collection)',
        'entries/s',
        rawOf,
        undefined,
        undefined,
        500,
      );
      // The user's highest revision now (warm-up pushes included): the head its pushes raised.
      const head = parseSyncHead(await ctx.redis.get(syncHeadKey(user.userId)));
      if (!head) throw new Error('no head after the pushes');
      stored = head.revision;
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

/**
 * The first push after raw writes of `level` entries: its quota recount, timed until the
 * counter is in Redis (the push's own reply may never come: sync closes a connection after
 * 65 s), and recorded as a row (once, no warm-up: a recount happens once).
 */
async function firstPushRecount(ctx: BenchContext, user: BenchUser, level: number) {
  const key = quotaKey(user.userId, 'entries');
  // A counter from the level before is stale by the entries just written: gone, as after 1 h.
  await ctx.redis.del(key);
  const started = performance.now();
  let pushed: Awaited<ReturnType<typeof push>> | undefined;
  let failure = '';
  const attempt = push(ctx.stack.urls.sync, user, 1).then(
    (reply) => {
      pushed = reply;
    },
    (err: Error) => {
      failure = err.message;
    },
  );
  const deadline = Date.now() + 10 * 60_000;
  while (!pushed && !(await ctx.redis.exists(key)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const ms = performance.now() - started;
  await Promise.race([attempt, new Promise((resolve) => setTimeout(resolve, 1_000))]);
  if (level > 0) {
    ctx.report.rows.push({
      scenario: `13 quota recount of ${level} entries (first push after the raw writes)`,
      path: 'direct',
      unit: 'ms',
      rate: ms,
      p50: ms,
      p99: ms,
      errors: failure ? 1 : 0,
      note: `timed once (a recount happens once) until the counter was set${ms >= 600_000 ? ' (NOT set within 10 min)' : ''}${failure ? `; the push itself failed: ${failure.slice(0, 80)}` : ''}`,
    });
  }
  return { pushed, ms };
}
