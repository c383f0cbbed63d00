import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type ManagedProcess,
  startProcess,
  waitForPort,
} from '../../scripts/lib/proc.js';
import type { ServiceName } from '../../scripts/lib/stack.js';
import { ensurePrometheus } from '../../scripts/lib/tools.js';
import { type Account, client, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';
import {
  ALERTS_FILE,
  dashboardExpressions,
  type ExpressionUse,
  matchesEmpty,
  parsePromql,
  readDashboard,
  readRules,
} from './promql.js';

/**
 * No drift between the metrics the services export and the ones the alerts and the dashboard
 * read: a real Prometheus (Debian's) scrapes a real stack, some traffic goes through the
 * gateway, and every selector of every rule and dashboard query must find series carrying the
 * labels it matches and groups by.
 */

/** Where Prometheus scrapes a service's metrics: `/metrics` on its metrics listener (METRICS_PORT). */
function metricsUrl(service: ServiceName): URL {
  return new URL('/metrics', stack.metricsUrls[service]);
}

/** Labels a scraper adds to every target (Kubernetes service discovery): never on the metric itself. */
const TARGET_LABELS = new Set(['namespace', 'pod', 'container', 'endpoint', 'job', 'instance']);
/**
 * Matchers that select failures this traffic does not cause (5xx): their label must exist,
 * their value need not match anything yet.
 */
const FAILURE_MATCHERS = [{ label: 'status_code', value: '5..' }];

const QINIU = {
  QINIU_ACCESS_KEY: 'drift-access-key',
  QINIU_SECRET_KEY: 'drift-secret-key',
  QINIU_BUCKET_NAME: 'journal-drift',
  QINIU_UPLOAD_DOMAIN: 'upload.example.com',
};

let stack: TestStack;
let prometheus: ManagedProcess;
let prometheusUrl: string;
let dataDir: string;

beforeAll(async () => {
  const [{ prometheus: binary }, started] = await Promise.all([
    ensurePrometheus(),
    startTestStack('drift', { ...QINIU, NODE_ENV: 'test' }),
  ]);
  stack = started;
  dataDir = await mkdtemp(join(tmpdir(), 'journal-prometheus-'));
  const services = Object.keys(stack.urls) as ServiceName[];
  const config = {
    // A scrape runs the readiness checks live: give a busy FerretDB ping time to answer.
    global: { scrape_interval: '2s', scrape_timeout: '1900ms', evaluation_interval: '1s' },
    rule_files: [ALERTS_FILE],
    scrape_configs: services.map((service) => {
      const url = metricsUrl(service);
      return {
        job_name: `journal-${service}`,
        metrics_path: url.pathname,
        static_configs: [{ targets: [url.host] }],
      };
    }),
  };
  const configFile = join(dataDir, 'prometheus.yml');
  // JSON is YAML.
  await writeFile(configFile, JSON.stringify(config));
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = startProcess(
    'prometheus',
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { output: 'ignore' },
  );
  await waitForPort(port, 30_000, 'prometheus', prometheus.child);
  // Its port opens before its storage is loaded; until then the API answers 503 (not JSON).
  await until(
    'Prometheus to be ready',
    () => fetch(`${prometheusUrl}/-/ready`).then((r) => r.status),
    (status) => status === 200,
    60_000,
  );
}, 180_000);

afterAll(async () => {
  await prometheus?.stop();
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function api<T>(path: string, params: Record<string, string | string[]> = {}): Promise<T> {
  const url = new URL(`/api/v1/${path}`, prometheusUrl);
  for (const [k, v] of Object.entries(params))
    for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one);
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error}`);
  return body.data;
}

type Sample = { metric: Record<string, string>; value: [number, string] };
const query = (q: string) => api<{ result: Sample[] }>('query', { query: q }).then((d) => d.result);
const series = (match: string) => api<Record<string, string>[]>('series', { 'match[]': match });

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (ok(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until every target has been scraped after `since` (ms). */
const scrapedSince = (since: number) =>
  until(
    'a scrape of every target',
    () => query('timestamp(up)'),
    (r) => r.length === 4 && r.every((s) => Number(s.value[1]) * 1000 > since),
  );

/** register, login (and a failure), refresh (and a reuse), push, pull, upload, download, logout. */
async function driveTraffic() {
  const c = client(stack.gateway);
  const alice: Account = await registerUser(c, 'drift');
  expect(
    (await c.post('/auth/login', { username: alice.username, password: alice.password })).status,
  ).toBe(200);
  expect(
    (await c.post('/auth/login', { username: alice.username, password: 'wrong password x' }))
      .status,
  ).toBe(401);
  const refreshed = await c.post<{ refreshToken: string; accessToken: string }>('/auth/refresh', {
    refreshToken: alice.refreshToken,
  });
  expect(refreshed.status).toBe(200);
  // Reusing the spent token ends that session (auth_refresh_token_reuse_total).
  expect((await c.post('/auth/refresh', { refreshToken: alice.refreshToken })).status).toBe(401);
  const bob = await registerUser(c, 'drift');

  const push = await c.post(
    '/sync/push',
    { deviceId: 'd1', changes: [{ id: 'e1', baseRevision: 0, content: { t: 1 } }] },
    bob.accessToken,
  );
  expect(push.status, push.text).toBe(200);
  expect((await c.get('/sync/changes?since=0', bob.accessToken)).status).toBe(200);

  const bytes = randomBytes(4096);
  const put = await c.call('PUT', '/attachments/a1', {
    token: bob.accessToken,
    body: bytes,
    headers: {
      'content-type': 'application/octet-stream',
      'x-content-sha256': createHash('sha256').update(bytes).digest('hex'),
    },
  });
  expect(put.status, put.text).toBe(201);
  expect((await c.get('/attachments/a1', bob.accessToken)).status).toBe(200);
  expect((await c.call('DELETE', '/attachments/a1', { token: bob.accessToken })).status).toBe(204);
  expect(
    (await c.post('/storage/qiniu/token', { key: 'k1' }, bob.accessToken)).status,
  ).toBeLessThan(500);
  // An unsigned callback: counted as bad_signature, answered 401.
  await c.post('/storage/qiniu/callback', { key: 'x' }, undefined, {
    authorization: 'QBox bad:sig',
  });
  expect((await c.post('/auth/logout', {}, bob.accessToken)).status).toBe(204);
  return bob;
}

describe('metrics the alerts and the dashboard read exist, with their labels', () => {
  let bob: Account;

  it('Prometheus scrapes all four services', async () => {
    const up = await until(
      'four targets up',
      () => query('up'),
      (r) => r.length === 4 && r.every((s) => s.value[1] === '1'),
    );
    expect(up.map((s) => s.metric.job).sort()).toEqual([
      'journal-attachments',
      'journal-auth',
      'journal-gateway',
      'journal-sync',
    ]);
  });

  it('a held long-poll shows in the gateway and sync gauges, and leaves them when answered', async () => {
    bob = await driveTraffic();
    const c = client(stack.gateway);
    const held = c.get(
      '/sync/changes?since=100&wait=8',
      (await registerUser(c, 'poll')).accessToken,
    );
    const gauge = async (name: string) => {
      const res = await fetch(
        metricsUrl(name === 'gateway_long_polls_in_flight' ? 'gateway' : 'sync'),
      );
      const line = (await res.text())
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return Number(line?.split(' ').pop());
    };
    await until(
      'the long-poll to be held',
      () => gauge('sync_long_polls_waiting'),
      (v) => v === 1,
      6_000,
    );
    expect(await gauge('gateway_long_polls_in_flight')).toBe(1);
    expect((await held).status).toBe(200);
    await until(
      'the long-poll to be released',
      () => gauge('gateway_long_polls_in_flight'),
      (v) => v === 0,
      10_000,
    );
    expect(await gauge('sync_long_polls_waiting')).toBe(0);
  });

  it('every selector of every alert rule and dashboard query finds its series and labels', async () => {
    expect(bob).toBeDefined();
    await scrapedSince(Date.now());
    const rules = readRules().groups.flatMap((g) => g.rules);
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const uses: { source: string; use: ExpressionUse }[] = [
      ...rules.map((r) => ({ source: `rule ${r.alert ?? r.record}`, use: parsePromql(r.expr) })),
      ...dashboardExpressions(readDashboard()).map((e) => ({
        source: 'dashboard',
        use: parsePromql(e),
      })),
    ];
    const problems: string[] = [];
    for (const { source, use } of uses) {
      for (const selector of use.selectors) {
        if (recorded.has(selector.metric)) continue;
        const where = `${source}: ${selector.metric}`;
        const found = await series(selector.metric);
        if (found.length === 0) {
          problems.push(`${where}: no such metric`);
          continue;
        }
        const labels = new Set(found.flatMap((s) => Object.keys(s)));
        // Matchers that need a label: it must be there, and (but for failures) match a series.
        const needed = selector.matchers.filter((m) => !matchesEmpty(m));
        for (const m of needed) {
          if (!labels.has(m.label)) problems.push(`${where}: no label ${m.label}`);
        }
        const strict = needed.filter(
          (m) => !FAILURE_MATCHERS.some((f) => f.label === m.label && f.value === m.value),
        );
        const text = `${selector.metric}{${strict.map((m) => `${m.label}${m.op}${JSON.stringify(m.value)}`).join(',')}}`;
        if (strict.length && (await series(text)).length === 0)
          problems.push(`${where}: no series matches ${text}`);
        for (const label of use.groupingLabels) {
          if (!TARGET_LABELS.has(label) && !labels.has(label))
            problems.push(`${where}: grouped by ${label}, which it lacks`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the recording rules compute, and every rule loads healthy', async () => {
    const groups = await api<{
      groups: { rules: { name: string; health: string; lastError?: string }[] }[];
    }>('rules');
    const rules = groups.groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(readRules().groups.flatMap((g) => g.rules).length);
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    // The gateway answered requests without a 5xx: its error ratio is recorded, and 0. A ratio
    // needs traffic between two scrapes (0/0 is NaN): a call (a 401, counted, not a 5xx) each try.
    const ratio = await until(
      'the error ratio of the gateway',
      async () => {
        await client(stack.gateway).get('/auth/me');
        return query('service:http_request_errors:ratio_rate5m{service="gateway"}');
      },
      (r) => r.length === 1 && !Number.isNaN(Number(r[0]?.value[1])),
    );
    expect(Number(ratio[0]?.value[1])).toBe(0);
    const slow = await until(
      'the slow ratio of auth',
      () => query('service:http_request_slow:ratio_rate5m{service="auth"}'),
      (r) => r.length === 1,
    );
    // A ratio, or NaN while auth's per-route series are too new for rate() to see an increase.
    const slowRatio = Number(slow[0]?.value[1]);
    expect(Number.isNaN(slowRatio) || (slowRatio >= 0 && slowRatio <= 1), String(slowRatio)).toBe(
      true,
    );
    // Every dependency the readiness checks cover answers (read until one scrape of each has
    // landed: a single slow scrape must not stand for the state).
    const expected = [
      ...['auth', 'sync', 'attachments'].flatMap((s) => [`${s} mongodb`, `${s} redis`]),
      'gateway redis',
    ].sort();
    const deps = await until(
      'every dependency up',
      () => query('journal_dependency_up'),
      (d) =>
        d.every((x) => x.value[1] === '1') &&
        expected.every((e) => d.some((x) => `${x.metric.service} ${x.metric.dependency}` === e)),
    );
    const checked = new Set(deps.map((d) => `${d.metric.service} ${d.metric.dependency}`));
    for (const e of expected) expect(checked, `checks ${e}`).toContain(e);
  });
});
