import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { load } from '../lib/measure.js';

/** Logins (scrypt's CPU) while empty pulls run beside them: what one costs the other. */
export const loginsBesidePulls: Scenario = {
  name: '6 logins',
  async run({ stack, user, headers, report, state }) {
    if (state.cursor === undefined) throw new Error('needs the empty-pull scenario first');
    const pullUrl = `${stack.urls.gateway}/sync/changes?since=${state.cursor}`;
    const alone = await load({ url: pullUrl, headers, durationSec: SETTINGS.duration });
    const [logins, beside] = await Promise.all([
      load({
        url: `${stack.urls.gateway}/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, password: user.password }),
        connections: 4,
        durationSec: SETTINGS.duration,
      }),
      load({ url: pullUrl, headers, durationSec: SETTINGS.duration }),
    ]);
    // One address may hold only half of auth's hash slots (AUTH_HASH_CONCURRENCY): the other
    // concurrent logins are refused (429) at once, and counted as errors, not as logins.
    // The rate is of logins answered 200; the refused ones (429 at once) are the errors column.
    const succeeded = logins.total - logins.non2xx - logins.errors;
    report.record(
      '6 login',
      'gateway',
      'logins/s',
      { ...logins, requestsPerSec: succeeded / SETTINGS.duration },
      undefined,
      `${succeeded} of ${logins.total} answered 200 (the rest refused at once by the per-address hash gate); p50/p99 of all`,
    );
    report.record('6 empty pull alone', 'gateway', 'req/s', alone);
    report.record(
      '6 empty pull beside logins',
      'gateway',
      'req/s',
      beside,
      undefined,
      `p99 ${alone.p99} -> ${beside.p99} ms`,
    );
  },
};
