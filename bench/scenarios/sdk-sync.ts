import type { Scenario } from '../lib/context.js';
import type { Row } from '../lib/report.js';
import { seedJournal } from '../lib/seed-journal.js';
import { measureFirstSync, type SdkFirstSyncResult } from './sdk-first-sync.js';

/**
 * First sync of `BENCH_SDK_ENTRIES` entries through `@journal/client` into its SQLite store,
 * against a raw HTTP pull of the same entries in the same run (issue 16); then the same
 * entries end-to-end encrypted (issue 25): an account with encryption on whose entries are
 * envelopes, first-synced by a device that unlocks and decrypts every entry (target: at least
 * 70% of the plaintext rate). Both journals are seeded before either is measured, so both
 * syncs read the same store (on FerretDB every page query scans the whole collection), then
 * measured in `BENCH_SDK_ROUNDS` (default 3) alternating rounds, each a new device (a new
 * SQLite store): the median round of each, with the lowest and highest. Pulls in pages of 500
 * (issue 16's comparison) are measured once, in the first plaintext round.
 */
export const sdkSync: Scenario = {
  name: '16 SDK first sync',
  async run({ stack, report }) {
    const n = Number(process.env.BENCH_SDK_ENTRIES ?? 20000);
    const rounds = Math.max(1, Number(process.env.BENCH_SDK_ROUNDS ?? 3));
    const gateway = stack.urls.gateway;
    const plainJournal = await seedJournal(gateway, n, false);
    // A failure here (encryption refused, the crypto module broken) fails the encrypted row only.
    const encryptedJournal = await seedJournal(gateway, n, true).catch((err: Error) => err);
    const plain: SdkFirstSyncResult[] = [];
    const encrypted: SdkFirstSyncResult[] = [];
    for (let round = 0; round < rounds; round++) {
      plain.push(
        await measureFirstSync(gateway, plainJournal, n, false, { pages500: round === 0 }),
      );
      if (encryptedJournal instanceof Error) continue;
      encrypted.push(
        await measureFirstSync(gateway, encryptedJournal, n, true, { pages500: false }),
      );
    }
    const p = median(plain);
    const pages500 = plain[0]?.rawPages500Seconds ?? 0;
    report.extras.sdkFirstSync = {
      entries: n,
      ...p,
      rawPages500Seconds: pages500,
      speedupVsPages500: round(pages500 / p.sdkSeconds),
      rounds: plain,
    };
    report.rows.push(row(n, '', p, plain, ''));
    if (encryptedJournal instanceof Error) {
      report.failed(`16 SDK first sync of ${n}, encrypted`, encryptedJournal);
      return;
    }
    const e = median(encrypted);
    const share = p.sdkSeconds / e.sdkSeconds;
    report.extras.sdkFirstSyncEncrypted = {
      entries: n,
      ...e,
      shareOfPlaintextRate: round(share),
      rounds: encrypted,
    };
    const unlocks = encrypted.map((r) => r.unlockSeconds?.toFixed(2)).join(', ');
    report.rows.push(
      row(
        n,
        ', encrypted',
        e,
        encrypted,
        `; unlock ${unlocks} s (not in the sync's time); median ${(share * 100).toFixed(0)}% of the plaintext median rate (target 70%)`,
      ),
    );
  },
};

/** The median round by the SDK's time (the pages-of-500 figure comes from the first round). */
function median(results: SdkFirstSyncResult[]): SdkFirstSyncResult {
  const sorted = [...results].sort((a, b) => a.sdkSeconds - b.sdkSeconds);
  return sorted[Math.floor((sorted.length - 1) / 2)] as SdkFirstSyncResult;
}

function row(
  n: number,
  label: string,
  r: SdkFirstSyncResult,
  all: SdkFirstSyncResult[],
  extra: string,
): Row {
  const rates = all.map((x) => n / x.sdkSeconds);
  return {
    scenario: `16 SDK first sync of ${n}${label}`,
    path: 'gateway',
    unit: 'entries/s',
    rate: n / r.sdkSeconds,
    p50: 0,
    p99: 0,
    baseline: n / r.rawSeconds,
    errors: 0,
    ...(all.length > 1
      ? { rounds: { n: all.length, min: Math.min(...rates), max: Math.max(...rates) } }
      : {}),
    note: `answered by the store; raw pull ${r.rawSeconds.toFixed(1)} s (${r.pulledMiB.toFixed(1)} MiB of JSON), SDK ${r.sdkSeconds.toFixed(1)} s; peak RSS ${r.peakRssMiB.toFixed(0)} MiB${extra}`,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
