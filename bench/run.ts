/**
 * make bench: the whole stack with real dependencies (like make dev), every scenario through
 * the gateway and directly against the owning service, nginx and a bare Node.js proxy as the
 * reference proxies, and raw-driver baselines in the same run. Prints one table, writes
 * bench/results/<date>.json (every run's file is kept: bench/results/README.md). One module per
 * scenario under bench/scenarios/, named by what it measures; each runs guarded the same way (a
 * failure is a row, the run goes on).
 *
 * What a ratio compares: a "vs raw" figure is given only beside the raw driver doing the same
 * store work as the path measured. Sync's calls are measured twice (bench/lib/hint.ts): with
 * the user's hint in Redis, and with it deleted before each request (the head miss), each
 * against its own raw work, and sync's counters say how every request was answered.
 *
 * BENCH_DURATION (seconds per load run, default 5; the one-connection runs take at most 3),
 * BENCH_ROUNDS (alternating rounds of every comparison, median reported with min and max,
 * default 3), BENCH_WARMUP (unrecorded seconds before every measurement, of the services and
 * of the raw baselines alike, default 2), BENCH_GROWTH (stored entries of other users for the
 * growth runs, comma-separated, default "10000"), BENCH_BIG_MIB (default 20), BENCH_WAITERS
 * (default 1000), BENCH_HEAD_LEVELS (stored entries of one user for the hot path, default
 * "0,20000"; at most QUOTA_ENTRIES, 100,000 by default: one user cannot push beyond it), BENCH_CONCURRENT_ENTRIES (default 10000), BENCH_SDK_ENTRIES (default 20000), BENCH_SDK_ROUNDS (default 3),
 * BENCH_ATTACK_ROUNDS (default 30), BENCH_CRYPTO_MIB (the attachment encrypted and decrypted
 * on the device, default 64), BENCH_CRYPTO_UNLOCKS (default 3), BENCH_ONLY (comma-separated scenario names to run, e.g.
 * "2 empty pull,13 hot path"; some need an earlier one: growth needs "2 empty pull" and
 * "4 full pages").
 */
import { type BenchContext, createContext, type Scenario, SETTINGS } from './lib/context.js';
import { attachments } from './scenarios/attachments.js';
import { bounds } from './scenarios/bounds.js';
import { emptyPull } from './scenarios/empty-pull.js';
import { encryption } from './scenarios/encryption.js';
import { fullPages } from './scenarios/full-pages.js';
import { growth } from './scenarios/growth.js';
import { hotPath } from './scenarios/hot-path.js';
import { loginAttack } from './scenarios/login-attack.js';
import { loginsBesidePulls } from './scenarios/logins-beside-pulls.js';
import { longPollWakeup } from './scenarios/long-poll-wakeup.js';
import { proxyOverhead } from './scenarios/proxy-overhead.js';
import { pushBatches } from './scenarios/push-batches.js';
import { sdkSync } from './scenarios/sdk-sync.js';

/**
 * In this order: logins run right after the empty pull (while a pull costs what it measured);
 * the bounds before growth (its 20 pulls of 4 MiB pages at once each scan the collection on
 * FerretDB: on the 60,000 documents growth and the SDK leave, they outlast sync's 65 s
 * connection timeout); growth and the SDK's first sync run last (on FerretDB every query scans
 * the collection they grow; the SDK is compared with a raw pull in the same state); the
 * encryption figures (in-process crypto and Chromium) after them.
 */
const SCENARIOS: Scenario[] = [
  proxyOverhead,
  emptyPull,
  loginsBesidePulls,
  hotPath,
  longPollWakeup,
  pushBatches,
  fullPages,
  attachments,
  loginAttack,
  bounds,
  growth,
  sdkSync,
  encryption,
];

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const started = Date.now();
process.stderr.write('starting the stack…\n');
const ctx: BenchContext = await createContext();
try {
  for (const scenario of SCENARIOS) {
    if (only && !only.includes(scenario.name)) continue;
    process.stderr.write(`${scenario.name}\n`);
    try {
      await scenario.run(ctx);
    } catch (err) {
      ctx.report.failed(scenario.name, err as Error);
    }
  }
} finally {
  await ctx.stop();
}
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_') || k === 'MONGODB_URL'),
);
await ctx.report.finish(started, SETTINGS.duration, { ...SETTINGS, env });
process.stderr.write(`done in ${Math.round((Date.now() - started) / 1000)} s\n`);
