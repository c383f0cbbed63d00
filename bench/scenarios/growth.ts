import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { hintVsStore } from '../lib/hint.js';
import { emptyPullCase } from './empty-pull.js';
import { fullPageCase } from './full-pages.js';

/**
 * Growth (last: on FerretDB every query scans the collection, so later scenarios would
 * measure the scan): the empty pull and the full page of scenarios 2 and 4 again, with
 * `BENCH_GROWTH` stored entries of other users, each with the hint in Redis and with it deleted
 * before each request (the head miss at that level), against the raw work of each path.
 */
export const growth: Scenario = {
  name: 'growth',
  async run(ctx) {
    const { pullUsers, pageUsers } = ctx.state;
    if (!pullUsers || !pageUsers)
      throw new Error('needs the empty-pull and full-pages scenarios first');
    const versions = ctx.db.collection('entry_versions');
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
        await versions.insertMany(batch, { ordered: false });
        stored += batch.length;
      }
      const documents = await versions.estimatedDocumentCount();
      const label = (scenario: string) => `${scenario} +${target} (${documents} documents)`;
      // Timed windows as everywhere: a request that scans for a second gives a few samples a
      // window (a loop ends with the first request ending after it), a Redis hit thousands.
      await hintVsStore(
        ctx,
        emptyPullCase(ctx, pullUsers.hint, pullUsers.cold, pullUsers.cursor, label('2 empty pull')),
      );
      await hintVsStore(
        ctx,
        fullPageCase(ctx, pageUsers.hint, pageUsers.cold, label('4 full page of 500')),
      );
    }
  },
};
