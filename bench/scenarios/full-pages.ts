import { auth, push, register } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { ok, sequence } from '../lib/measure.js';

/** Full pages of 500 entries of ~1 KiB (entries/s) against the raw driver's page query. */
export const fullPages: Scenario = {
  name: '4 full pages',
  async run(ctx) {
    const { stack, entries, report } = ctx;
    const reader = await register(stack.urls.gateway, 'reader');
    for (let i = 0; i < 4; i++) await push(stack.urls.gateway, reader, 500, 1000);
    const pageBaseline = await sequence(
      () => entries.page(reader.userId, 0, 500, 4 * 1024 * 1024),
      5,
    );
    const fullPages = async (label: string) => {
      for (const [path, base] of [
        ['gateway', stack.urls.gateway],
        ['direct', stack.urls.sync],
      ] as const) {
        const r = await sequence(
          () => ok(`${base}/sync/changes?since=0&limit=500`, { headers: auth(reader) }),
          5,
        );
        report.record(
          label,
          path,
          'entries/s',
          r,
          pageBaseline.requestsPerSec * 500,
          undefined,
          500,
        );
      }
    };
    await fullPages('4 full pages');
    report.record('4 full pages', 'raw find', 'entries/s', pageBaseline, undefined, undefined, 500);
    ctx.state.reader = reader;
  },
};
