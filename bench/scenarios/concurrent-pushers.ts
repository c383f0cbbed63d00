import { auth, type BenchUser, pushBody, register } from '../lib/client.js';
import type { BenchContext } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';

/**
 * Four pushers and a cursor follower over `BENCH_CONCURRENT_ENTRIES` new entries of one user
 * (issue 13): no 5xx, every entry seen exactly once, in order. Part of the hot path, run before
 * it fills the collection (on a store that scans, a new user's first query reads all of it).
 */
export async function concurrentPushers(ctx: BenchContext): Promise<void> {
  const { stack, report } = ctx;
  const gateway = stack.urls.gateway;
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
}
