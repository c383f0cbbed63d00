import { auth } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { ok, sequence } from '../lib/measure.js';

/**
 * Growth (last: on FerretDB every query scans the collection, so later scenarios would
 * measure the scan): an empty pull and a full page again with `BENCH_GROWTH` stored entries of
 * other users.
 */
export const growth: Scenario = {
  name: 'growth',
  async run(ctx) {
    const { stack, headers, report, state } = ctx;
    const { cursor, reader } = state;
    if (cursor === undefined || !reader)
      throw new Error('needs the empty-pull and full-pages scenarios first');
    let stored = 0;
    for (const target of SETTINGS.growth) {
      process.stderr.write(`growth: ${target} entries of other users\n`);
      while (stored < target) {
        const batch = Array.from({ length: Math.min(5000, target - stored) }, (_, i) => ({
          userId: `other-${(stored + i) % 1000}`,
          id: `g${stored + i}`,
          revision: stored + i + 1,
          baseRevision: 0,
          deleted: false,
          content: JSON.stringify({ body: 'x'.repeat(200) }),
          clientUpdatedAt: null,
          updatedAt: new Date(),
          deviceId: null,
        }));
        await ctx.db.collection('entry_versions').insertMany(batch, { ordered: false });
        stored += batch.length;
      }
      // One request at a time: on a scanning store a load window would leave abandoned requests
      // running server-side and measure the backlog instead.
      for (const [path, base] of [
        ['gateway', stack.urls.gateway],
        ['direct', stack.urls.sync],
      ] as const) {
        const empty = await sequence(
          () => ok(`${base}/sync/changes?since=${cursor}`, { headers }),
          5,
        );
        report.record(`2 empty pull +${target}`, path, 'req/s', empty);
        const full = await sequence(
          () => ok(`${base}/sync/changes?since=0&limit=500`, { headers: auth(reader) }),
          2,
        );
        report.record(
          `4 full pages +${target}`,
          path,
          'entries/s',
          full,
          undefined,
          undefined,
          500,
        );
      }
    }
  },
};
