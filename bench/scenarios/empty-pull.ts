import { push } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { loop } from '../lib/measure.js';

/**
 * An authenticated pull with nothing new (the idle device's call), at the head: through the
 * gateway, directly, nginx and a bare Node.js proxy, against the raw driver running the page
 * and horizon queries such a pull would cost without the head in Redis.
 */
export const emptyPull: Scenario = {
  name: '2 empty pull',
  async run(ctx) {
    const { stack, user, headers, nginx, nodeProxy, report, entries } = ctx;
    const first = await push(stack.urls.gateway, user, 1);
    const cursor = first.revision;
    ctx.state.cursor = cursor;
    const emptyBaseline = await loop(
      async () => {
        await entries.page(user.userId, cursor, 500, 4 * 1024 * 1024);
        await entries.purgedThrough(user.userId);
      },
      SETTINGS.connections,
      SETTINGS.duration,
    );
    await ctx.compare(
      '2 empty pull',
      {
        gateway: `${stack.urls.gateway}/sync/changes?since=${cursor}`,
        direct: `${stack.urls.sync}/sync/changes?since=${cursor}`,
        nginx: `${nginx.url}/sync/sync/changes?since=${cursor}`,
        'node proxy': `${nodeProxy.url}/sync/sync/changes?since=${cursor}`,
      },
      headers,
      emptyBaseline.requestsPerSec,
    );
    report.record('2 empty pull', 'raw mongo (page+horizon)', 'ops/s', emptyBaseline);
  },
};
