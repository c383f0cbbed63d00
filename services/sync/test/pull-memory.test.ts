import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  mongoUrl,
  redisUrl,
  signTestToken,
  testKeys,
  testMongo,
} from '../../../test-support/index.js';
import { type ServiceProcess, startServiceProcess } from '../../../test-support/processes.js';

const MiB = 1024 * 1024;
/** Entries as large as the API allows (1 MiB of content JSON, less a little for the key). */
const ENTRY_TEXT = 'x'.repeat(MiB - 64);
const ENTRIES = 12;
const PULLERS = 20;

/** The sync pod's memory limit in the chart: what the test holds the process to. */
function chartMemoryLimitMiB(): number {
  const values = parse(
    readFileSync(new URL('../../../deploy/helm/journal/values.yaml', import.meta.url), 'utf8'),
  ) as { sync: { resources: { limits: { memory: string } } } };
  const limit = values.sync.resources.limits.memory;
  const match = /^(\d+)Mi$/.exec(limit);
  if (!match) throw new Error(`unexpected sync memory limit ${limit}`);
  return Number(match[1]);
}

/** The NODE_OPTIONS the chart gives the sync container: a heap of half its memory limit. */
function chartNodeOptions(): string {
  return `--max-old-space-size=${Math.floor(chartMemoryLimitMiB() / 2)}`;
}

function rssMiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

let mongo: Awaited<ReturnType<typeof testMongo>>;
let proc: ServiceProcess;
let token: string;

beforeAll(async () => {
  mongo = await testMongo('pull_memory');
  const keys = await testKeys();
  token = await signTestToken(keys, { sub: 'memory-user' });
  proc = await startServiceProcess('sync', {
    MONGODB_URL: mongoUrl(),
    MONGODB_DB_NAME: mongo.dbName,
    REDIS_URL: redisUrl(),
    REDIS_KEY_PREFIX: `${mongo.dbName}:`,
    JWT_PUBLIC_KEYS: keys.jwks,
    ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0',
    SYNC_PURGE_INTERVAL_SECONDS: '0',
    LOG_LEVEL: 'warn',
    NODE_OPTIONS: chartNodeOptions(),
  });
  // Entries of 1 MiB, eight per push (a push body stays under 10 MiB).
  for (let first = 0; first < ENTRIES; first += 8) {
    const changes = Array.from({ length: Math.min(8, ENTRIES - first) }, (_, i) => ({
      id: `big-${first + i}`,
      baseRevision: 0,
      content: { text: ENTRY_TEXT },
    }));
    const res = await fetch(`${proc.url}/sync/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ changes }),
    });
    expect(res.status, await res.text().then((t) => t.slice(0, 200))).toBe(200);
  }
}, 180_000);

afterAll(async () => {
  await proc?.stop('SIGTERM');
  await mongo?.drop();
});

/**
 * Pulls the feed with the largest page size, `maxPages` pages at most; returns the entries and
 * pages seen.
 */
async function pullAll(
  maxPages = Number.POSITIVE_INFINITY,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let since = 0;
  let pages = 0;
  for (; pages < maxPages; ) {
    const res = await fetch(`${proc.url}/sync/changes?since=${since}&limit=10000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 200) throw new Error(`pull answered ${res.status}`);
    // Read and drop: the client's memory is not what is measured.
    const body = (await res.json()) as {
      changes: { id: string }[];
      revision: number;
      hasMore: boolean;
    };
    pages += 1;
    for (const change of body.changes) ids.push(change.id);
    since = body.revision;
    if (!body.hasMore) break;
  }
  return { ids, pages };
}

describe('memory of a sync process under the worst pulls', () => {
  it(`keeps RSS under the chart's limit while ${PULLERS} clients pull 1 MiB entries at once with the largest limit`, async () => {
    const pid = proc.child.pid as number;
    await pullAll(); // warm up the code paths and the driver's pool
    const limitMiB = chartMemoryLimitMiB();
    const before = rssMiB(pid);
    let peak = before.rss;
    const timer = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid).rss);
    }, 20);
    try {
      // Each client's first two pages: 40 reads of 4 MiB pages, all asked for at once.
      const results = await Promise.all(Array.from({ length: PULLERS }, () => pullAll(2)));
      for (const result of results) {
        // Pages cut by bytes (4 MiB: four 1 MiB entries), in order, nothing twice.
        expect(result.ids).toEqual(Array.from({ length: 8 }, (_, i) => `big-${i}`));
      }
    } finally {
      clearInterval(timer);
    }
    const after = rssMiB(pid);
    peak = Math.max(peak, after.rss);
    console.info(
      `pull memory: ${PULLERS} clients × ${ENTRIES} MiB; RSS before ${before.rss.toFixed(1)} MiB, ` +
        `peak ${peak.toFixed(1)} MiB (high-water ${after.hwm.toFixed(1)} MiB), limit ${limitMiB} MiB`,
    );
    expect(after.hwm).toBeLessThan(limitMiB);
  }, 300_000);
});
