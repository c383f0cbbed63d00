import type { Scenario } from '../lib/context.js';
import { sdkFirstSync } from './sdk-first-sync.js';

/**
 * First sync of `BENCH_SDK_ENTRIES` entries through `@journal/client` into its SQLite store,
 * against a raw HTTP pull of the same entries in the same run (issue 16).
 */
export const sdkSync: Scenario = {
  name: '16 SDK first sync',
  async run({ stack, report }) {
    const n = Number(process.env.BENCH_SDK_ENTRIES ?? 20000);
    const r = await sdkFirstSync(stack.urls.gateway, n);
    report.extras.sdkFirstSync = { entries: n, ...r };
    report.rows.push({
      scenario: `16 SDK first sync of ${n}`,
      path: 'gateway',
      unit: 'entries/s',
      rate: n / r.sdkSeconds,
      p50: 0,
      p99: 0,
      baseline: n / r.rawSeconds,
      errors: 0,
      note: `raw pull ${r.rawSeconds.toFixed(1)} s, SDK ${r.sdkSeconds.toFixed(1)} s; peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
    });
  },
};
