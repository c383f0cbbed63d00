import { connectRedis, type Entry, type Redis, syncHeadKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRedis } from '../../../scripts/lib/deps.js';
import type { SyncApp } from '../src/app.js';
import { syncRecentKey } from '../src/changes/recent.js';
import { type Harness, newUserId, pull, push, syncHarness } from './helpers.js';

/**
 * The head revision in Redis (docs/sync.md, "The head in Redis"): it only rises, a stale-low
 * head delays a change by at most its lifetime and never skips or repeats one, and Redis losing
 * it (restart without persistence, keys deleted) costs queries, never correctness.
 */

let h: Harness;
let server: Awaited<ReturnType<typeof spawnRedis>>;
let redis: Redis;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  h = await syncHarness('sync_head');
  // A Redis of this file's own, so it can be restarted without touching other files.
  server = await spawnRedis();
  redis = await connectRedis(server.url, { connectTimeoutMs: 30_000 });
});
afterAll(async () => {
  redis.disconnect();
  await h.close();
  await server.destroy();
});

/** A head as sync writes it now, in the app's store generation. */
function headValue(app: SyncApp, revision: number): string {
  return `${revision}:${Date.now()}:${app.sync.generation.current()}`;
}

function build(extra: Record<string, string> = {}) {
  return h.build({ REDIS_URL: server.url, REDIS_KEY_PREFIX: '', ...extra }, { redis });
}

describe('the head script', () => {
  it('only raises, refreshes an equal head only with a newer observation, and ignores expired ones', async () => {
    const app = await build();
    const { heads } = app.sync;
    const user = newUserId('raise');
    const now = Date.now();
    const generation = app.sync.generation.current();
    await heads.raise(user, 5, now);
    expect(await heads.get(user)).toEqual({ revision: 5, observedAt: now, generation });
    expect(await redis.get(syncHeadKey(user))).toBe(`5:${now}:${generation}`);
    await heads.raise(user, 3, now + 10);
    expect(await heads.get(user)).toEqual({ revision: 5, observedAt: now, generation });
    await heads.raise(user, 5, now - 10);
    expect(await heads.get(user)).toEqual({ revision: 5, observedAt: now, generation });
    await heads.raise(user, 5, now + 20);
    expect(await heads.get(user)).toEqual({ revision: 5, observedAt: now + 20, generation });
    await heads.raise(user, 9, now + 5);
    expect(await heads.get(user)).toEqual({ revision: 9, observedAt: now + 5, generation });
    // An observation older than the lifetime proves nothing any more: not written.
    const other = newUserId('old');
    await heads.raise(other, 4, now - 61_000);
    expect(await heads.get(other)).toBeNull();
    // Its lifetime counts from the observation, not from the write.
    const ttl = await redis.pttl(syncHeadKey(user));
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_100);
    // Garbage in the key reads as no head (one query), never as a revision.
    await redis.set(syncHeadKey(other), 'not-a-head');
    expect(await heads.get(other)).toBeNull();
  });
});

describe('a stale-low head (a raise lost in a Redis failover)', () => {
  it('delays a change by at most the head lifetime, then the pull sees it once', async () => {
    const app = await build({ SYNC_HEAD_TTL_SECONDS: '2' });
    const userId = newUserId('stale');
    const token = await h.token(userId);
    await push(app, token, [{ id: 'a', baseRevision: 0, content: { v: 1 } }]);
    await push(app, token, [{ id: 'b', baseRevision: 0, content: { v: 1 } }]);
    // The replica that took over never saw the raise to 2: the head says 1.
    await redis.set(syncHeadKey(userId), headValue(app, 1), 'PX', 2000);
    const lostAt = Date.now();
    const first = await pull(app, token, 'since=1');
    expect(first.body).toEqual({
      changes: [],
      revision: 1,
      hasMore: false,
      generation: app.sync.generation.current(),
    });
    let seen: Entry[] = [];
    while (Date.now() - lostAt < 10_000) {
      const next = await pull(app, token, 'since=1');
      if (next.body.changes.length > 0) {
        seen = next.body.changes;
        break;
      }
      await sleep(100);
    }
    const delay = Date.now() - lostAt;
    expect(seen.map((e) => [e.id, e.revision])).toEqual([['b', 2]]);
    // Bounded by the lifetime plus one pull on a loaded machine (without the bound: never).
    expect(delay).toBeLessThan(2000 + 3000);
    console.log(`stale-low head: change visible after ${delay} ms (lifetime 2000 ms)`);
  });

  it('makes a guessing push collide and fall back to the reads: revisions stay dense', async () => {
    const app = await build();
    const userId = newUserId('guess');
    const token = await h.token(userId);
    await push(app, token, [
      { id: 'a', baseRevision: 0, content: {} },
      { id: 'b', baseRevision: 0, content: {} },
      { id: 'c', baseRevision: 0, content: {} },
    ]);
    await redis.set(syncHeadKey(userId), headValue(app, 1), 'PX', 60_000);
    const next = await push(app, token, [
      { id: 'd', baseRevision: 0, content: {} },
      { id: 'e', baseRevision: 0, content: {} },
    ]);
    expect(next.body.accepted).toEqual([
      { id: 'd', revision: 4 },
      { id: 'e', revision: 5 },
    ]);
    expect(await app.sync.heads.get(userId)).toMatchObject({ revision: 5 });
  });
});

describe('chaos: heads deleted, lowered, recent changes cut and Redis restarted under concurrent pushers and followers', () => {
  it('no follower skips or repeats a change, and a lost head delays within its bound', async () => {
    const TTL_MS = 2000;
    const replicas: SyncApp[] = [
      await build({ SYNC_HEAD_TTL_SECONDS: String(TTL_MS / 1000) }),
      await build({ SYNC_HEAD_TTL_SECONDS: String(TTL_MS / 1000) }),
    ];
    const userId = newUserId('chaos');
    const token = await h.token(userId);
    const PUSHERS = 4;
    const PUSHES = Number(process.env.CHAOS_PUSHES ?? 10);
    const BATCH = 50;
    const total = PUSHERS * PUSHES * BATCH;
    const ackedAt = new Map<string, number>();
    const statuses: Record<number, number> = {};
    let pushing = true;

    // Half-way through, the pushers wait for Redis to have been restarted once (so it is,
    // however fast the pushes are).
    let restartedOnce: () => void = () => {};
    const firstRestart = new Promise<void>((resolve) => {
      restartedOnce = resolve;
    });
    const pushers = Array.from({ length: PUSHERS }, async (_, p) => {
      const app = replicas[p % replicas.length] as SyncApp;
      for (let i = 0; i < PUSHES; i++) {
        if (i === Math.floor(PUSHES / 2)) await firstRestart;
        // Spread over seconds, so that the chaos below lands between and during pushes.
        else if (i > 0) await sleep(100);
        const changes = Array.from({ length: BATCH }, (_, j) => ({
          id: `p${p}-${i}-${j}`,
          baseRevision: 0,
          content: { p, i, j },
        }));
        for (let attempt = 0; ; attempt++) {
          const { res, body } = await push(app, token, changes);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode === 200) {
            expect(body.accepted).toHaveLength(BATCH);
            const now = Date.now();
            for (const a of body.accepted) ackedAt.set(a.id, now);
            break;
          }
          // A 503 (contention) is a documented retry; anything else fails the test below.
          if (attempt > 20 || res.statusCode !== 503) throw new Error(`push ${res.statusCode}`);
        }
      }
    });

    interface Follower {
      seen: Map<string, number>;
      order: number[];
      maxDelay: number;
    }
    // `lagMs` between pulls keeps a follower behind the pushes, so its pages span the newest
    // changes in Redis, where the chaos cuts its gaps.
    const follow = async (app: SyncApp, lagMs = 0): Promise<Follower> => {
      const f: Follower = { seen: new Map(), order: [], maxDelay: 0 };
      let cursor = 0;
      const deadline = Date.now() + 120_000;
      while (f.seen.size < total && Date.now() < deadline) {
        const { res, body } = await pull(app, token, `since=${cursor}&limit=500&wait=1`);
        if (res.statusCode !== 200) throw new Error(`pull ${res.statusCode} ${res.body}`);
        const now = Date.now();
        for (const entry of body.changes) {
          if (f.seen.has(entry.id)) throw new Error(`${entry.id} seen twice`);
          f.seen.set(entry.id, entry.revision);
          f.order.push(entry.revision);
          const acked = ackedAt.get(entry.id);
          if (acked !== undefined) f.maxDelay = Math.max(f.maxDelay, now - acked);
        }
        expect(body.revision).toBeGreaterThanOrEqual(cursor);
        cursor = body.revision;
        if (lagMs > 0) await sleep(lagMs);
      }
      return f;
    };
    const followers = [...replicas.map((app) => follow(app)), follow(replicas[0] as SyncApp, 400)];

    // Chaos: delete the head, lower it (a failover that lost the last raise), restart Redis,
    // drop the recent changes, or cut a gap into them (a lost append).
    const events: Record<string, number> = {
      deleted: 0,
      lowered: 0,
      restarted: 0,
      recentDropped: 0,
      recentGap: 0,
    };
    // (Right after a restart this client may still be reconnecting: a gap cut is the one to miss.)
    const kinds = ['lowered', 'deleted', 'restarted', 'recentGap', 'recentDropped', 'lowered'];
    kinds.push('deleted', 'recentGap');
    const chaos = (async () => {
      for (let round = 0; pushing; round++) {
        await sleep(150 + Math.floor(Math.random() * 200));
        const kind = kinds[round % kinds.length] as string;
        try {
          if (kind === 'restarted') {
            await server.stop();
            await sleep(200);
            await server.start();
            // This client reconnects on a backoff: wait for it, or the next rounds' commands
            // (a dropped recent set among them) fail and the run may never count one.
            for (let i = 0; i < 250 && redis.status !== 'ready'; i++) await sleep(20);
            restartedOnce();
          } else if (kind === 'deleted') {
            await redis.del(syncHeadKey(userId));
          } else if (kind === 'recentDropped') {
            await redis.del(syncRecentKey(userId));
          } else if (kind === 'recentGap') {
            // Among the newest changes (not the newest): where a lagging follower still reads.
            const size = await redis.zcard(syncRecentKey(userId));
            if (size <= 2) continue;
            const at = size - 2 - Math.floor(Math.random() * Math.min(size - 2, BATCH));
            await redis.zremrangebyrank(syncRecentKey(userId), at, at);
          } else {
            const value = await redis.get(syncHeadKey(userId));
            const [revision = 0, , generation = ''] = value?.split(':') ?? [];
            if (Number(revision) > 50) {
              const lowered = `${Number(revision) - 50}:${Date.now()}:${generation}`;
              await redis.set(syncHeadKey(userId), lowered, 'PX', TTL_MS);
            }
          }
          events[kind] = (events[kind] ?? 0) + 1;
        } catch {
          // Redis is restarting: the next round tries again.
        }
      }
    })();

    const t0 = Date.now();
    await Promise.all(pushers);
    console.log(`pushers done in ${Date.now() - t0} ms`);
    pushing = false;
    await chaos;
    const results = await Promise.all(followers);
    console.log(`followers done in ${Date.now() - t0} ms`);

    expect(Object.keys(statuses).filter((s) => Number(s) >= 500 && s !== '503')).toEqual([]);
    for (const f of results) {
      expect(f.seen.size).toBe(total);
      // Dense and in order: revisions 1…total, each once.
      expect(f.order).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
    // Under load a follower also lags behind the pushers (its pages queue behind their
    // inserts), so the chaos run only shows no change is held back for long; the delay a lost
    // head adds on its own is bounded tightly in the stale-low test above.
    const maxDelay = Math.max(...results.map((f) => f.maxDelay));
    console.log(
      `chaos: ${total} entries, events ${JSON.stringify(events)}, statuses ${JSON.stringify(statuses)}, max follower delay ${maxDelay} ms`,
    );
    for (const kind of ['restarted', 'deleted', 'lowered', 'recentDropped', 'recentGap']) {
      expect(events[kind], kind).toBeGreaterThan(0);
    }
    expect(maxDelay).toBeLessThan(30_000);
    // The followers read the recent changes in Redis as well as MongoDB's pages.
    const recentReads = await Promise.all(replicas.map((app) => recentOutcomes(app)));
    console.log(`recent reads per replica: ${JSON.stringify(recentReads)}`);
    expect(recentReads.some((r) => (r.hit ?? 0) > 0)).toBe(true);
  }, 180_000);
});

/** The replica's `sync_recent_reads_total` by outcome (hit, miss). */
async function recentOutcomes(app: SyncApp): Promise<Record<string, number>> {
  const text = await app.metrics.metrics();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/sync_recent_reads_total\{[^}]*outcome="(\w+)"[^}]*\} (\d+)/g)) {
    counts[m[1] as string] = (counts[m[1] as string] ?? 0) + Number(m[2]);
  }
  return counts;
}
