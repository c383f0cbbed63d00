import { auth, pushBody, register, versionDoc } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { ok, sequence } from '../lib/measure.js';
import { rawVersions } from '../lib/raw.js';

/**
 * Pushes of 1, 50 and 500 new entries, one after another (entries/s), through the gateway and
 * directly, against the raw driver's insertMany of the same versions, and the raw driver doing
 * the reads a push without a head in Redis makes as well.
 */
export const pushBatches: Scenario = {
  name: '3 push batches',
  async run(ctx) {
    const { stack, entries, report } = ctx;
    // The raw driver doing a push's writes (one insertMany of new versions with dense revisions),
    // in a database of its own with sync's indexes so it doesn't grow the service's.
    const raw = await rawVersions(ctx);
    let rawRevision = 0;
    const pushes: Record<number, number> = { 1: 20, 50: 6, 500: 2 };
    for (const size of [1, 50, 500]) {
      const count = pushes[size] ?? 2;
      const docs = () => Array.from({ length: size }, () => versionDoc('raw', ++rawRevision));
      const baseline = await sequence(() => raw.insertOrdered(docs()), count);
      // The driver doing all of a push's work: its two reads on the service's collection (the
      // entries' current versions and the user's highest revision, in parallel), then the insert.
      const withReads = await sequence(async () => {
        const batch = docs();
        const ids = batch.map((d) => d.id);
        const heads = async () => {
          for await (const _ of entries.currentVersions('raw', ids));
        };
        await Promise.all([heads(), entries.maxRevision('raw')]);
        await raw.insertOrdered(batch);
      }, count);
      for (const [path, base] of [
        ['gateway', stack.urls.gateway],
        ['direct', stack.urls.sync],
      ] as const) {
        const pusher = await register(stack.urls.gateway, `push${size}${path}`);
        const r = await sequence(
          () =>
            ok(`${base}/sync/push`, {
              method: 'POST',
              headers: { ...auth(pusher), 'content-type': 'application/json' },
              body: pushBody(size),
            }),
          count,
        );
        report.record(
          `3 push x${size}`,
          path,
          'entries/s',
          r,
          baseline.requestsPerSec * size,
          `${((r.requestsPerSec / withReads.requestsPerSec) * 100).toFixed(0)}% of raw reads+insertMany`,
          size,
        );
      }
      report.record(
        `3 push x${size}`,
        'raw insertMany',
        'entries/s',
        baseline,
        undefined,
        undefined,
        size,
      );
      report.record(
        `3 push x${size}`,
        'raw reads+insertMany',
        'entries/s',
        withReads,
        undefined,
        undefined,
        size,
      );
    }
    await raw.drop();
  },
};
