/**
 * First sync of n entries through the SDK (`@journal/client`) into its SQLite store, against
 * raw HTTP pulls of the same entries in the same run (JSON parsed, nothing stored), each warmed
 * by a raw pull first:
 * - `rawPages500Seconds`: plain pulls in pages of 500 (the API's default `limit`), what a
 *   client that does not ask for full pages pays; `speedupVsPages500` = that / sdkSeconds
 *   (target: at least 4, the gain of pages cut by bytes instead of by a small count);
 * - `rawSeconds`: plain pulls in the SDK's own page size (the largest), the same work as the
 *   SDK's minus storing; `ratio` = rawSeconds / sdkSeconds, the SDK's share of the raw rate.
 * `peakRssMiB`: the process's peak resident memory while the SDK synced (it holds about a page
 * at a time, not the journal).
 *
 * Standalone: `npx tsx bench/scenarios/sdk-first-sync.ts [n]` starts a bench stack itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JournalClient, MemoryTokenStore } from '@journal/client';
import { SqliteStore } from '@journal/client/sqlite';

/** The SDK's default page size (the API's largest `limit`) and the API's default one. */
const FULL_PAGE = 10_000;
const DEFAULT_PAGE = 500;
const SEED_BATCH = 100;

export interface SdkFirstSyncResult {
  sdkSeconds: number;
  rawSeconds: number;
  ratio: number;
  rawPages500Seconds: number;
  speedupVsPages500: number;
  sdkPages: number;
  peakRssMiB: number;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

/** Pull everything with plain fetch: the floor any client pays. */
async function rawPull(gatewayUrl: string, token: string, limit: number): Promise<number> {
  let since = 0;
  let count = 0;
  for (;;) {
    const res = await fetch(`${gatewayUrl}/sync/changes?since=${since}&limit=${limit}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw new Error(`pull: ${res.status}`);
    const page = (await res.json()) as { changes: unknown[]; revision: number; hasMore: boolean };
    count += page.changes.length;
    since = page.revision;
    if (!page.hasMore) return count;
  }
}

export async function sdkFirstSync(gatewayUrl: string, n = 20000): Promise<SdkFirstSyncResult> {
  const username = `bench_sdk_${randomBytes(5).toString('hex')}`;
  const session = (await post(`${gatewayUrl}/auth/register`, {
    username,
    password: 'bench password 1',
  })) as { accessToken: string };
  const token = session.accessToken;

  // Seed n entries (not measured), 100 per push, one push at a time; a push the server could
  // not answer in time is sent again with its Idempotency-Key.
  const body = 'x'.repeat(160);
  for (let start = 0; start < n; start += SEED_BATCH) {
    const changes = Array.from({ length: Math.min(SEED_BATCH, n - start) }, (_, i) => ({
      id: `e${start + i}`,
      baseRevision: 0,
      content: { title: `entry ${start + i}`, body, tags: ['bench'], mood: (start + i) % 5 },
    }));
    const key = `seed-${start}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await post(
          `${gatewayUrl}/sync/push`,
          { changes },
          { authorization: `Bearer ${token}`, 'idempotency-key': key },
        );
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  // A raw pull warms the server (and this process) for every measured pull alike.
  await rawPull(gatewayUrl, token, FULL_PAGE);
  const timedRaw = async (page: number) => {
    const started = performance.now();
    const count = await rawPull(gatewayUrl, token, page);
    if (count !== n) throw new Error(`raw pull saw ${count} entries, expected ${n}`);
    return (performance.now() - started) / 1000;
  };
  const rawPages500Seconds = await timedRaw(DEFAULT_PAGE);
  const rawSeconds = await timedRaw(FULL_PAGE);

  const dir = await mkdtemp(join(tmpdir(), 'sdk-bench-'));
  const tokenStore = new MemoryTokenStore();
  const client = new JournalClient({
    baseUrl: gatewayUrl,
    tokenStore,
    store: new SqliteStore(join(dir, 'journal.db')),
  });
  let sdkPages = 0;
  client.on('progress', (event) => {
    if (event.phase === 'pull') sdkPages += 1;
  });
  await client.auth.login({ username, password: 'bench password 1' });
  global.gc?.();
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    const t0 = performance.now();
    await client.sync.pull();
    const sdkSeconds = (performance.now() - t0) / 1000;
    peak = Math.max(peak, process.memoryUsage().rss);
    const stored = (await client.entries.list()).length;
    if (stored !== n) throw new Error(`the SDK stored ${stored} entries, expected ${n}`);
    return {
      sdkSeconds: round(sdkSeconds),
      rawSeconds: round(rawSeconds),
      ratio: round(rawSeconds / sdkSeconds),
      rawPages500Seconds: round(rawPages500Seconds),
      speedupVsPages500: round(rawPages500Seconds / sdkSeconds),
      sdkPages,
      peakRssMiB: round(peak / 1024 / 1024),
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
    console.log(
      JSON.stringify({
        scenario: 'sdk-first-sync',
        n,
        ...(await sdkFirstSync(stack.urls.gateway, n)),
      }),
    );
  } finally {
    await stack.stop();
  }
}
