/**
 * make bench: the whole stack with real dependencies (like make dev), every scenario of issue 8
 * through the gateway and directly against the owning service, nginx as the reference proxy,
 * and a raw-driver baseline in the same run. Prints one table, writes bench/results/<date>.json.
 *
 * BENCH_DURATION (seconds per load run, default 5), BENCH_ROUNDS (alternating rounds of the
 * gateway/direct/nginx comparisons, median reported, default 3), BENCH_WARMUP (unrecorded
 * seconds before each load run, default 2), BENCH_GROWTH (stored entries of other users for the
 * growth runs, comma-separated, default "10000"), BENCH_BIG_MIB (default 20), BENCH_WAITERS (default 1000).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { request as undiciRequest } from 'undici';
import {
  auth,
  type BenchUser,
  entryId,
  mintUsers,
  push,
  pushBody,
  register,
  versionDoc,
} from './lib/client.js';
import {
  alternate,
  type LoadResult,
  load,
  loop,
  ok,
  peakRss,
  quantile,
  rssMiB,
  sequence,
} from './lib/measure.js';
import { startBenchStack, startNginx, startNodeProxy } from './lib/stack.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const GROWTH = (process.env.BENCH_GROWTH ?? '10000').split(',').map(Number).filter(Boolean);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 20);
const WAITERS = Number(process.env.BENCH_WAITERS ?? 1000);
const CONNECTIONS = 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Row {
  scenario: string;
  path: string;
  unit: string;
  rate: number;
  p50: number;
  p99: number;
  baseline?: number;
  errors: number;
  note?: string;
}
const rows: Row[] = [];
const extras: Record<string, unknown> = {};

function record(
  scenario: string,
  path: string,
  unit: string,
  r: LoadResult,
  baseline?: number,
  note?: string,
  perReq = 1,
) {
  rows.push({
    scenario,
    path,
    unit,
    rate: r.requestsPerSec * perReq,
    p50: r.p50,
    p99: r.p99,
    ...(baseline !== undefined ? { baseline } : {}),
    errors: r.errors + r.non2xx,
    ...(note ? { note } : {}),
  });
  process.stderr.write(
    `  ${scenario} ${path}: ${(r.requestsPerSec * perReq).toFixed(0)} ${unit} p50 ${r.p50} ms p99 ${r.p99} ms${r.errors + r.non2xx ? ` errors ${r.errors + r.non2xx}` : ''}\n`,
  );
}

/**
 * The same call through the gateway, directly and through nginx, in alternating rounds (median
 * of each): with CONNECTIONS connections for throughput, then with one connection, where the
 * mean latency (1000 / rate, finer than autocannon's whole-millisecond percentiles) shows what
 * each hop adds when no CPU is saturated.
 */
async function compare(
  label: string,
  urls: Record<'gateway' | 'direct' | 'nginx' | 'node proxy', string>,
  headers: Record<string, string>,
  baseline: number,
) {
  // One connection needs shorter windows for a stable mean (no queueing to settle).
  const targets = (connections: number) =>
    Object.fromEntries(
      Object.entries(urls).map(([path, url]) => [
        path,
        connections === 1
          ? { url, headers, connections, durationSec: Math.min(DURATION, 3), warmupSec: 1 }
          : { url, headers, connections, durationSec: DURATION },
      ]),
    );
  const many = await alternate(targets(CONNECTIONS), ROUNDS);
  for (const [path, r] of Object.entries(many)) record(label, path, 'req/s', r, baseline);
  const one = await alternate(targets(1), ROUNDS);
  for (const [path, r] of Object.entries(one)) {
    record(`${label} 1 conn`, path, 'req/s', r, undefined, `mean ${meanMs(r).toFixed(2)} ms`);
  }
}

const meanMs = (r: LoadResult) => (r.requestsPerSec > 0 ? 1000 / r.requestsPerSec : 0);

const started = Date.now();
process.stderr.write('starting the stack…\n');
const stack = await startBenchStack();
const nginx = await startNginx({ auth: stack.urls.auth, sync: stack.urls.sync });
const nodeProxy = await startNodeProxy({ auth: stack.urls.auth, sync: stack.urls.sync });
const mongo = new MongoClient(stack.mongoUrl);
await mongo.connect();
const db = mongo.db(stack.options.dbName);
const redis = new Redis(stack.redisUrl, { keyPrefix: 'journal:' });
const pids = Object.fromEntries(Object.entries(stack.procs).map(([n, p]) => [n, p.child.pid]));

try {
  const guarded = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`  ${name} failed: ${(err as Error).message}\n`);
      rows.push({
        scenario: name,
        path: '-',
        unit: '-',
        rate: 0,
        p50: 0,
        p99: 0,
        errors: 1,
        note: (err as Error).message.slice(0, 120),
      });
    }
  };
  const user = await register(stack.urls.gateway, 'bench');
  const headers = auth(user);

  // 1. The HTTP floor, and the lightest authenticated proxied call.
  process.stderr.write('1. /health and /auth/me\n');
  for (const [name, url] of Object.entries(stack.urls)) {
    record('1 health', name, 'req/s', await load({ url: `${url}/health`, durationSec: DURATION }));
  }
  const users = db.collection('users');
  const sessionBaseline = await loop(
    async () => {
      await redis.get(`session:${user.userId}`);
      await users.findOne(
        { _id: user.userId as never },
        { projection: { username: 1, createdAt: 1 } },
      );
    },
    CONNECTIONS,
    DURATION,
  );
  await compare(
    '1 /auth/me',
    {
      gateway: `${stack.urls.gateway}/auth/me`,
      direct: `${stack.urls.auth}/auth/me`,
      nginx: `${nginx.url}/auth/auth/me`,
      'node proxy': `${nodeProxy.url}/auth/auth/me`,
    },
    headers,
    sessionBaseline.requestsPerSec,
  );
  record('1 /auth/me', 'raw redis+mongo', 'ops/s', sessionBaseline);

  // 2. Authenticated pull with nothing new.
  process.stderr.write('2. empty pull\n');
  const first = await push(stack.urls.gateway, user, 1);
  const cursor = first.revision;
  // The sync service's own collections (services/sync/src/entries/repository.ts).
  const entries = db.collection('entry_versions');
  const purges = db.collection('sync_purges');
  const page = (userId: string, since: number) =>
    entries
      .find({ userId, revision: { $gt: since }, superseded: { $ne: true } })
      .sort({ userId: 1, revision: 1 })
      .limit(501)
      .toArray();
  const horizon = (userId: string) =>
    purges.find({ userId }).sort({ userId: -1, purgedThrough: -1 }).limit(1).toArray();
  const emptyBaseline = await loop(
    async () => {
      await page(user.userId, cursor);
      await horizon(user.userId);
    },
    CONNECTIONS,
    DURATION,
  );
  const emptyPull = (label: string) =>
    compare(
      label,
      {
        gateway: `${stack.urls.gateway}/sync/changes?since=${cursor}`,
        direct: `${stack.urls.sync}/sync/changes?since=${cursor}`,
        nginx: `${nginx.url}/sync/sync/changes?since=${cursor}`,
        'node proxy': `${nodeProxy.url}/sync/sync/changes?since=${cursor}`,
      },
      headers,
      emptyBaseline.requestsPerSec,
    );
  await emptyPull('2 empty pull');
  record('2 empty pull', 'raw mongo', 'ops/s', emptyBaseline);

  await guarded('6 logins', async () => {
    // 6. Logins while empty pulls run beside them; right after scenario 2, while a pull is the
    // cost it measured (on a scanning store later scenarios grow the collection it scans).
    process.stderr.write('6. logins beside pulls\n');
    const alone = await load({
      url: `${stack.urls.gateway}/sync/changes?since=${cursor}`,
      headers,
      durationSec: DURATION,
    });
    const [logins, beside] = await Promise.all([
      load({
        url: `${stack.urls.gateway}/auth/login`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: user.username, password: user.password }),
        connections: 4,
        durationSec: DURATION,
      }),
      load({
        url: `${stack.urls.gateway}/sync/changes?since=${cursor}`,
        headers,
        durationSec: DURATION,
      }),
    ]);
    record('6 login', 'gateway', 'logins/s', logins);
    record('6 empty pull alone', 'gateway', 'req/s', alone);
    record(
      '6 empty pull beside logins',
      'gateway',
      'req/s',
      beside,
      undefined,
      `p99 ${alone.p99} -> ${beside.p99} ms`,
    );
  });

  await guarded('7 long-poll', async () => {
    // 7. 1,000 waiting long-polls, then one push per user.
    process.stderr.write('7. long-poll\n');
    const waiters: BenchUser[] = await mintUsers(stack.options, WAITERS);
    const memBefore = { gateway: rssMiB(pids.gateway), sync: rssMiB(pids.sync) };
    // Each device long-polls the way a client does: from its cursor, again after each empty
    // wait, until its change arrives. Wake-up = arrival minus the push's acknowledgement.
    const receivedAt = new Map<string, number>();
    const statuses = new Map<number, number>();
    const deadline = Date.now() + 240_000;
    const devices = waiters.map(async (w) => {
      while (Date.now() < deadline) {
        let status = -1;
        let changes = 0;
        try {
          const r = await undiciRequest(`${stack.urls.gateway}/sync/changes?since=0&wait=30`, {
            headers: auth(w),
            bodyTimeout: 90_000,
            headersTimeout: 90_000,
          });
          status = r.statusCode;
          const text = await r.body.text();
          if (status === 200) changes = (JSON.parse(text) as { changes: unknown[] }).changes.length;
        } catch {
          // counted as -1 below
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (changes > 0) {
          receivedAt.set(w.userId, Date.now());
          return;
        }
        if (status !== 200) await new Promise((r) => setTimeout(r, 1000));
      }
    });
    await new Promise((r) => setTimeout(r, 3000));
    const memHeld = { gateway: rssMiB(pids.gateway), sync: rssMiB(pids.sync) };
    const ackedAt = new Map<string, number>();
    const pushStarted = Date.now();
    for (let i = 0; i < waiters.length; i += 50) {
      await Promise.all(
        waiters.slice(i, i + 50).map(async (w) => {
          await push(stack.urls.sync, w, 1);
          ackedAt.set(w.userId, Date.now());
        }),
      );
    }
    const pushSec = (Date.now() - pushStarted) / 1000;
    await Promise.all(devices);
    const wake = waiters
      .filter((w) => receivedAt.has(w.userId) && ackedAt.has(w.userId))
      .map((w) => Math.max(0, (receivedAt.get(w.userId) ?? 0) - (ackedAt.get(w.userId) ?? 0)))
      .sort((a, b) => a - b);
    const q = (p: number) => quantile(wake, p);
    const failed = [...statuses].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0);
    extras.longPoll = {
      waiting: waiters.length,
      received: receivedAt.size,
      pullStatuses: Object.fromEntries(statuses),
      pushSeconds: pushSec,
      wakeP50: q(0.5),
      wakeP99: q(0.99),
      kibPerWaitingPull: {
        gateway: Math.round(((memHeld.gateway - memBefore.gateway) * 1024) / waiters.length),
        sync: Math.round(((memHeld.sync - memBefore.sync) * 1024) / waiters.length),
      },
    };
    rows.push({
      scenario: '7 long-poll wake-up',
      path: 'gateway',
      unit: 'devices',
      rate: receivedAt.size,
      p50: q(0.5),
      p99: q(0.99),
      errors: failed,
      note: `of ${waiters.length}; pull statuses ${JSON.stringify(Object.fromEntries(statuses))}; pushes took ${pushSec.toFixed(0)} s; KiB per waiting pull ${JSON.stringify((extras.longPoll as { kibPerWaitingPull: unknown }).kibPerWaitingPull)}`,
    });
  });

  // 3. Push batches of 1, 50 and 500 new entries (entries/s), one push after another.
  process.stderr.write('3. push batches\n');
  // The raw driver doing a push's writes (one insertMany of new versions with dense revisions),
  // in a collection of its own with the same indexes so it doesn't grow the service's.
  const raw = db.collection('bench_raw_versions');
  await raw.createIndexes([
    { key: { userId: 1, revision: 1 }, unique: true },
    { key: { userId: 1, id: 1, baseRevision: 1 }, unique: true },
  ]);
  let rawRevision = 0;
  const pushes: Record<number, number> = { 1: 20, 50: 6, 500: 2 };
  for (const size of [1, 50, 500]) {
    const count = pushes[size] ?? 2;
    const docs = () => Array.from({ length: size }, () => versionDoc('raw', ++rawRevision));
    const baseline = await sequence(() => raw.insertMany(docs(), { ordered: true }), count);
    // The driver doing all of a push's work: its two reads on the service's collection (the
    // entries' current versions and the user's highest revision, in parallel), then the insert.
    const withReads = await sequence(async () => {
      const batch = docs();
      const ids = batch.map((d) => d.id);
      await Promise.all([
        entries
          .find({ userId: 'raw', id: { $in: ids }, superseded: { $ne: true } })
          .batchSize(ids.length * 2 + 101)
          .toArray(),
        entries.find({ userId: 'raw' }).sort({ userId: -1, revision: -1 }).limit(1).toArray(),
      ]);
      await raw.insertMany(batch, { ordered: true });
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
      record(
        `3 push x${size}`,
        path,
        'entries/s',
        r,
        baseline.requestsPerSec * size,
        `${((r.requestsPerSec / withReads.requestsPerSec) * 100).toFixed(0)}% of raw reads+insertMany`,
        size,
      );
    }
    record(`3 push x${size}`, 'raw insertMany', 'entries/s', baseline, undefined, undefined, size);
    record(
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

  // 4. Full pages of 500 entries of ~1 KiB.
  process.stderr.write('4. full pages\n');
  const reader = await register(stack.urls.gateway, 'reader');
  for (let i = 0; i < 4; i++) await push(stack.urls.gateway, reader, 500, 1000);
  const pageBaseline = await sequence(() => page(reader.userId, 0), 5);
  const fullPages = async (label: string) => {
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.sync],
    ] as const) {
      const r = await sequence(
        () => ok(`${base}/sync/changes?since=0&limit=500`, { headers: auth(reader) }),
        5,
      );
      record(label, path, 'entries/s', r, pageBaseline.requestsPerSec * 500, undefined, 500);
    }
  };
  await fullPages('4 full pages');
  record('4 full pages', 'raw find', 'entries/s', pageBaseline, undefined, undefined, 500);

  await guarded('5 attachments', async () => {
    // 5. Attachments: 1 MiB one after another, then one BIG_MIB transfer each way with peak RSS.
    process.stderr.write('5. attachments\n');
    const oneMiB = randomBytes(1024 * 1024);
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.attachments],
    ] as const) {
      const up = await sequence(
        () =>
          ok(`${base}/attachments/${entryId()}`, {
            method: 'PUT',
            headers: { ...headers, 'content-type': 'application/octet-stream' },
            body: oneMiB,
          }),
        5,
      );
      record('5 upload 1 MiB', path, 'MiB/s', up);
    }
    await ok(`${stack.urls.gateway}/attachments/one-mib`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: oneMiB,
    });
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.attachments],
    ] as const) {
      const down = await sequence(() => ok(`${base}/attachments/one-mib`, { headers }), 5);
      record('5 download 1 MiB', path, 'MiB/s', down);
    }
    const big = async (base: string, id: string) => {
      const size = BIG_MIB * 1024 * 1024;
      const chunk = randomBytes(1024 * 1024);
      const hash = createHash('sha256');
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < BIG_MIB; i++) {
            hash.update(chunk);
            yield chunk;
          }
        })(),
      );
      const up = await peakRss(pids, async () => {
        const t = Date.now();
        const res = await undiciRequest(`${base}/attachments/${id}`, {
          method: 'PUT',
          headers: {
            ...headers,
            'content-type': 'application/octet-stream',
            'content-length': String(size),
          },
          body,
        });
        await res.body.dump();
        if (res.statusCode !== 201) throw new Error(`big upload: ${res.statusCode}`);
        return (BIG_MIB / (Date.now() - t)) * 1000;
      });
      const down = await peakRss(pids, async () => {
        const t = Date.now();
        const res = await undiciRequest(`${base}/attachments/${id}`, {
          headers,
          headersTimeout: 300_000,
          bodyTimeout: 300_000,
        });
        if (res.statusCode !== 200)
          throw new Error(`big download: ${res.statusCode} ${await res.body.text()}`);
        const check = createHash('sha256');
        for await (const part of res.body) check.update(part as Buffer);
        if (check.digest('hex') !== hash.digest('hex')) throw new Error('big download differs');
        return (BIG_MIB / (Date.now() - t)) * 1000;
      });
      return { up, down };
    };
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.attachments],
    ] as const) {
      const r = await big(base, `big-${path}`).catch((err: Error) => {
        rows.push({
          scenario: `5 ${BIG_MIB} MiB`,
          path,
          unit: 'MiB/s',
          rate: 0,
          p50: 0,
          p99: 0,
          errors: 1,
          note: err.message,
        });
        return undefined;
      });
      if (!r) continue;
      const growth = (p: typeof r.up) =>
        Object.fromEntries(
          Object.keys(p.peak).map((k) => [k, Math.round((p.peak[k] ?? 0) - (p.before[k] ?? 0))]),
        );
      rows.push({
        scenario: `5 upload ${BIG_MIB} MiB`,
        path,
        unit: 'MiB/s',
        rate: r.up.result,
        p50: 0,
        p99: 0,
        errors: 0,
        note: `RSS growth MiB ${JSON.stringify(growth(r.up))}`,
      });
      rows.push({
        scenario: `5 download ${BIG_MIB} MiB`,
        path,
        unit: 'MiB/s',
        rate: r.down.result,
        p50: 0,
        p99: 0,
        errors: 0,
        note: `RSS growth MiB ${JSON.stringify(growth(r.down))}`,
      });
    }
  });

  await guarded('growth', async () => {
    // Growth (last: on FerretDB every query scans the collection, so later scenarios would
    // measure the scan): scenarios 2 and 4 again with many stored entries of other users.
    let stored = 0;
    for (const target of GROWTH) {
      process.stderr.write(`growth: ${target} entries of other users\n`);
      while (stored < target) {
        const batch = Array.from({ length: Math.min(5000, target - stored) }, (_, i) => ({
          userId: `other-${(stored + i) % 1000}`,
          id: `g${stored + i}`,
          revision: stored + i + 1,
          baseRevision: 0,
          deleted: false,
          content: JSON.stringify({ body: 'x'.repeat(200) }),
          clientUpdatedAt: null,
          updatedAt: new Date(),
          deviceId: null,
        }));
        await entries.insertMany(batch, { ordered: false });
        stored += batch.length;
      }
      // One request at a time: on a scanning store a load window would leave abandoned requests
      // running server-side and measure the backlog instead.
      for (const [path, base] of [
        ['gateway', stack.urls.gateway],
        ['direct', stack.urls.sync],
      ] as const) {
        const empty = await sequence(
          () => ok(`${base}/sync/changes?since=${cursor}`, { headers }),
          5,
        );
        record(`2 empty pull +${target}`, path, 'req/s', empty);
        const full = await sequence(
          () => ok(`${base}/sync/changes?since=0&limit=500`, { headers: auth(reader) }),
          2,
        );
        record(`4 full pages +${target}`, path, 'entries/s', full, undefined, undefined, 500);
      }
    }
  });
} finally {
  await redis.quit().catch(() => {});
  await mongo.close();
  await nginx.stop();
  await nodeProxy.stop();
  await stack.stop();
}

// The table, with each figure's ratio to the raw baseline (and gateway vs direct/nginx).
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));
const lines = [
  '| scenario | path | rate | unit | p50 ms | p99 ms | vs raw | errors | note |',
  '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | --- |',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.path} | ${fmt(r.rate)} | ${r.unit} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.baseline ? `${((r.rate / r.baseline) * 100).toFixed(0)}%` : ''} | ${r.errors} | ${r.note ?? ''} |`,
  ),
];
const ratios: Record<string, string> = {};
for (const scenario of new Set(rows.map((r) => r.scenario))) {
  const g = rows.find((r) => r.scenario === scenario && r.path === 'gateway');
  const d = rows.find((r) => r.scenario === scenario && r.path === 'direct');
  const n = rows.find((r) => r.scenario === scenario && r.path === 'nginx');
  // At one connection the rate is the inverse of the mean latency: the difference is what a hop adds.
  const added = (a: Row, b: Row) =>
    scenario.endsWith('1 conn') ? `, +${(1000 / a.rate - 1000 / b.rate).toFixed(2)} ms mean` : '';
  if (g && d)
    ratios[`${scenario}: gateway/direct`] =
      `${((g.rate / d.rate) * 100).toFixed(0)}% throughput, +${(g.p50 - d.p50).toFixed(2)} ms p50, +${(g.p99 - d.p99).toFixed(2)} ms p99${added(g, d)}`;
  if (g && n)
    ratios[`${scenario}: gateway/nginx`] =
      `${((g.rate / n.rate) * 100).toFixed(0)}% throughput${added(g, n)}`;
  // The references: what nginx, and the least a Node.js proxy does, add on their own.
  for (const ref of ['nginx', 'node proxy']) {
    const r = rows.find((x) => x.scenario === scenario && x.path === ref);
    if (r && d && scenario.endsWith('1 conn'))
      ratios[`${scenario}: ${ref}/direct`] =
        `${((r.rate / d.rate) * 100).toFixed(0)}% throughput${added(r, d)}`;
  }
}
const table = `${lines.join('\n')}\n\n${Object.entries(ratios)
  .map(([k, v]) => `- ${k}: ${v}`)
  .join('\n')}\n`;
process.stdout.write(`\n${table}\n${JSON.stringify(extras)}\n`);
const date = new Date().toISOString().replace(/[:.]/g, '-');
await mkdir(join(import.meta.dirname, 'results'), { recursive: true });
await writeFile(
  join(import.meta.dirname, 'results', `${date}.json`),
  JSON.stringify(
    {
      date,
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model,
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
      },
      durationSec: DURATION,
      rows,
      ratios,
      extras,
      elapsedSec: Math.round((Date.now() - started) / 1000),
    },
    null,
    2,
  ),
);
process.stderr.write(`done in ${Math.round((Date.now() - started) / 1000)} s\n`);
