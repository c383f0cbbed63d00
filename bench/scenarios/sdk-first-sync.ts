/**
 * First sync of n entries through the SDK (`@journal/client`) into its SQLite store, against
 * raw HTTP pulls of the same entries in the same run (JSON parsed, nothing stored), each warmed
 * by a raw pull first:
 * - `rawPages500Seconds`: plain pulls in pages of 500 (the API's default `limit`), what a
 *   client that does not ask for full pages pays; `speedupVsPages500` = that / sdkSeconds
 *   (target: at least 4, the gain of pages cut by bytes instead of by a small count);
 * - `rawSeconds`: plain pulls in the SDK's own page size (the largest), the same work as the
 *   SDK's minus storing (and, encrypted, minus decrypting); `ratio` = rawSeconds / sdkSeconds.
 * `peakRssMiB`: the process's peak resident memory while the SDK synced (it holds about a page
 * at a time, not the journal).
 *
 * With `encrypted`, the account has end-to-end encryption on (docs/encryption.md): a client
 * turns it on with `client.encryption.enable` and finishes the (empty) migration with
 * `resume()`, then the same n entries are pushed as envelopes made with the crypto module's
 * `encryptEntry`; the measured client signs in, unlocks with the passphrase (`unlockSeconds`,
 * Argon2id at the default parameters, timed apart) and first-syncs, decrypting every entry.
 *
 * Standalone: `npx tsx bench/scenarios/sdk-first-sync.ts [n] [encrypted]` starts a bench stack.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JournalClient, MemoryTokenStore } from '@journal/client';
import { SqliteStore } from '@journal/client/sqlite';
import { type SeededJournal, seedJournal } from '../lib/seed-journal.js';

/** The SDK's default page size (the API's largest `limit`) and the API's default one. */
const FULL_PAGE = 10_000;
const DEFAULT_PAGE = 500;

export interface SdkFirstSyncResult {
  encrypted: boolean;
  sdkSeconds: number;
  rawSeconds: number;
  ratio: number;
  /** Absent when not measured (`pages500: false`: later rounds, the encrypted journal). */
  rawPages500Seconds?: number;
  speedupVsPages500?: number;
  sdkPages: number;
  peakRssMiB: number;
  /** Encrypted only: `client.encryption.unlock(passphrase)` of the measured client. */
  unlockSeconds?: number;
  /** Bytes of the pulled JSON (envelopes are larger: base64 and padding to 256 bytes). */
  pulledMiB: number;
}

/** Pull everything with plain fetch: the floor any client pays. */
async function rawPull(gatewayUrl: string, token: string, limit: number) {
  let since = 0;
  let count = 0;
  let bytes = 0;
  for (;;) {
    const res = await fetch(`${gatewayUrl}/sync/changes?since=${since}&limit=${limit}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw new Error(`pull: ${res.status}`);
    const text = await res.text();
    bytes += text.length;
    const page = JSON.parse(text) as { changes: unknown[]; revision: number; hasMore: boolean };
    count += page.changes.length;
    since = page.revision;
    if (!page.hasMore) return { count, bytes };
  }
}

/** Seeds a journal of n entries (bench/lib/seed-journal.ts), then measures its first sync. */
export async function sdkFirstSync(
  gatewayUrl: string,
  n = 20000,
  options: { encrypted?: boolean } = {},
): Promise<SdkFirstSyncResult> {
  const encrypted = options.encrypted === true;
  return measureFirstSync(gatewayUrl, await seedJournal(gatewayUrl, n, encrypted), n, encrypted);
}

/** The measured part: raw pulls, then the SDK's first sync, of a journal already seeded. */
export async function measureFirstSync(
  gatewayUrl: string,
  seeded: SeededJournal,
  n: number,
  encrypted: boolean,
  options: { pages500?: boolean } = {},
): Promise<SdkFirstSyncResult> {
  const log = (what: string) =>
    process.stderr.write(`  SDK first sync${encrypted ? ', encrypted' : ''}: ${what}\n`);
  // A raw pull warms the server (and this process) for every measured pull alike.
  await rawPull(gatewayUrl, seeded.token, FULL_PAGE);
  let pulledBytes = 0;
  const timedRaw = async (page: number) => {
    const started = performance.now();
    const { count, bytes } = await rawPull(gatewayUrl, seeded.token, page);
    if (count !== n) throw new Error(`raw pull saw ${count} entries, expected ${n}`);
    pulledBytes = bytes;
    return (performance.now() - started) / 1000;
  };
  // Pages of 500 cost 40 page reads for 20,000 entries (each a collection scan on FerretDB).
  const rawPages500Seconds = options.pages500 === false ? undefined : await timedRaw(DEFAULT_PAGE);
  const rawSeconds = await timedRaw(FULL_PAGE);
  log(`raw pulls done (${rawSeconds.toFixed(1)} s in pages of ${FULL_PAGE})`);

  const dir = await mkdtemp(join(tmpdir(), 'sdk-bench-'));
  const client = new JournalClient({
    baseUrl: gatewayUrl,
    tokenStore: new MemoryTokenStore(),
    store: new SqliteStore(join(dir, 'journal.db')),
  });
  let sdkPages = 0;
  client.on('progress', (event) => {
    if (event.phase === 'pull') sdkPages += 1;
  });
  await client.auth.login({ username: seeded.username, password: seeded.password });
  let unlockSeconds: number | undefined;
  if (encrypted) {
    const state = await client.encryption.refresh();
    if (state !== 'locked') throw new Error(`a new device of an encrypted account is ${state}`);
    const t = performance.now();
    await client.encryption.unlock(seeded.passphrase);
    unlockSeconds = (performance.now() - t) / 1000;
  }
  global.gc?.();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const t0 = performance.now();
    await client.sync.pull();
    const sdkSeconds = (performance.now() - t0) / 1000;
    log(`SDK ${sdkSeconds.toFixed(1)} s`);
    peak = Math.max(peak, process.memoryUsage().rss);
    const entries = await client.entries.list();
    if (entries.length !== n) throw new Error(`the SDK stored ${entries.length} entries, not ${n}`);
    // The store holds plaintext: the entry's own content, decrypted.
    const sample = entries.find((e) => e.id === 'e0');
    if (JSON.stringify(sample?.content) !== JSON.stringify(seeded.contentOf(0))) {
      throw new Error(`entry e0 reads ${JSON.stringify(sample?.content)?.slice(0, 120)}`);
    }
    if (encrypted && client.encryption.failures().length > 0) {
      throw new Error(`${client.encryption.failures().length} entries failed to decrypt`);
    }
    return {
      encrypted,
      sdkSeconds: round(sdkSeconds),
      rawSeconds: round(rawSeconds),
      ratio: round(rawSeconds / sdkSeconds),
      ...(rawPages500Seconds !== undefined
        ? {
            rawPages500Seconds: round(rawPages500Seconds),
            speedupVsPages500: round(rawPages500Seconds / sdkSeconds),
          }
        : {}),
      sdkPages,
      peakRssMiB: round(peak / 1024 / 1024),
      ...(unlockSeconds !== undefined ? { unlockSeconds: round(unlockSeconds) } : {}),
      pulledMiB: round(pulledBytes / 1024 / 1024),
    };
  } finally {
    clearInterval(sampler);
    await client.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { startBenchStack } = await import('../lib/stack.js');
  const stack = await startBenchStack({ UPSTREAM_TIMEOUT_MS: '60000' });
  try {
    const n = Number(process.argv[2] ?? 20000);
    const encrypted = process.argv[3] === 'encrypted';
    console.log(
      JSON.stringify({
        scenario: 'sdk-first-sync',
        n,
        ...(await sdkFirstSync(stack.urls.gateway, n, { encrypted })),
      }),
    );
  } finally {
    await stack.stop();
  }
}
