import { randomUUID } from 'node:crypto';
import { createAccountDeletions } from '@journal/shared';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  mongoUrl,
  redisUrl,
  signTestToken,
  type TestKeys,
  testKeys,
  uniqueName,
} from '../../test-support/index.js';
import { type ServiceProcess, startServiceProcess } from '../../test-support/processes.js';
import {
  connects,
  FAULT_KINDS,
  type FaultKind,
  type FaultServer,
  metricValue,
  startFault,
} from './fault-servers.js';

/**
 * Every outside dependency down, each way a host can be down (docs/operations.md, "Outside
 * dependencies"): for each kind of fault, an attachments process whose Qiniu management hosts,
 * OTLP collector and JWKS URL all point at it, with an account deletion pending in its
 * database; and a gateway whose JWKS URL is black-holed. Each process must stay up and ready,
 * answer what needs the JWKS with a 503 problem document and Retry-After, count the failures
 * by dependency, keep the deletion pending (never completed while Qiniu did not confirm it),
 * and count and retry the failing sweep. All cases run at once.
 */

const QINIU = {
  QINIU_ACCESS_KEY: 'faults-access-key',
  QINIU_SECRET_KEY: 'faults-secret-key-0123456789',
  QINIU_BUCKET_NAME: 'journal-faults',
  QINIU_UPLOAD_DOMAIN: 'up.qiniu.invalid',
};

interface Case {
  fault: FaultServer;
  proc: ServiceProcess;
  dbName: string;
  userId: string;
}

let keys: TestKeys;
let mongo: MongoClient;
const cases = new Map<FaultKind, Case>();
let gateway: ServiceProcess;
let gatewayFault: FaultServer;

async function startCase(kind: FaultKind): Promise<Case> {
  const fault = await startFault(kind);
  const dbName = uniqueName(`outside_${kind.replace(/-/g, '_')}`);
  const userId = randomUUID();
  // The deletion is there before the process starts: its first sweep meets the fault.
  await createAccountDeletions(mongo.db(dbName)).request(userId, `name-${userId}`);
  const proc = await startServiceProcess('attachments', {
    MONGODB_URL: mongoUrl(),
    MONGODB_DB_NAME: dbName,
    REDIS_URL: redisUrl(),
    REDIS_KEY_PREFIX: `${dbName}:`,
    JWT_JWKS_URL: `${fault.base}/.well-known/jwks.json`,
    OTEL_EXPORTER_OTLP_ENDPOINT: fault.base,
    OTEL_BSP_SCHEDULE_DELAY: '500',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
    ...QINIU,
    QINIU_RS_HOST: fault.base,
    QINIU_RSF_HOST: fault.base,
    ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '1',
    ACCOUNT_DELETION_SETTLE_SECONDS: '0',
  });
  return { fault, proc, dbName, userId };
}

beforeAll(async () => {
  keys = await testKeys();
  mongo = await MongoClient.connect(mongoUrl());
  const started = await Promise.all(FAULT_KINDS.map((kind) => startCase(kind)));
  for (const c of started) cases.set(c.fault.kind, c);
  gatewayFault = await startFault('accepts-never-answers');
  gateway = await startServiceProcess('gateway', {
    REDIS_URL: redisUrl(),
    REDIS_KEY_PREFIX: `${uniqueName('outside_gw')}:`,
    JWT_JWKS_URL: `${gatewayFault.base}/.well-known/jwks.json`,
    AUTH_URL: 'http://127.0.0.1:9',
    SYNC_URL: 'http://127.0.0.1:9',
    ATTACHMENTS_URL: 'http://127.0.0.1:9',
  });
}, 240_000);

afterAll(async () => {
  await Promise.all([...cases.values()].map((c) => c.proc.stop('SIGKILL')));
  await gateway?.stop('SIGKILL');
  await Promise.all([...cases.values()].map((c) => c.fault.close()));
  await gatewayFault?.close();
  for (const c of cases.values()) await mongo.db(c.dbName).dropDatabase();
  await mongo?.close();
});

async function metrics(proc: ServiceProcess): Promise<string> {
  return (
    await fetch(`${proc.metricsUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  ).text();
}

async function status(url: string): Promise<number> {
  return (await fetch(url, { signal: AbortSignal.timeout(10_000) })).status;
}

describe('outside dependencies down', () => {
  it('the black-holed host really drops connections (the fault is real)', async () => {
    const fault = cases.get('backlog-full')?.fault;
    expect(await connects(Number(new URL(fault?.base ?? '').port), 2_000)).toBe(false);
    const refused = cases.get('refused')?.fault;
    expect(await connects(Number(new URL(refused?.base ?? '').port), 2_000)).toBe(false);
  });

  it.concurrent.for(FAULT_KINDS)(
    '%s: attachments stays up and ready, answers 503 + Retry-After without keys, counts each dependency, keeps the deletion pending and retries it',
    { timeout: 150_000 },
    async (kind, { expect }) => {
      const c = cases.get(kind);
      if (!c) throw new Error(`no case ${kind}`);
      const token = await signTestToken(keys, { sub: randomUUID() });

      // What needs the JWKS answers a problem document, never a 401 for a token nobody checked.
      const res = await fetch(`${c.proc.url}/attachments`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(20_000),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { code?: string }).code).toBe('upstream_unavailable');

      // Failures are counted by dependency; the sweep is counted and retried, the deletion waits.
      // (A collector answering 200 with garbage has taken the spans: no OTLP failure there.)
      const dependencies = kind === 'garbage' ? ['qiniu', 'jwks'] : ['qiniu', 'jwks', 'otlp'];
      await expect
        .poll(
          async () => {
            const text = await metrics(c.proc);
            return {
              failing: dependencies.filter(
                (d) => !(metricValue(text, 'dependency_failures_total', { dependency: d }) >= 1),
              ),
              sweepFailures:
                metricValue(text, 'background_job_failures_total', { job: 'account_deletion' }) >=
                2,
              deletionFailures: metricValue(text, 'account_deletion_failures_total') >= 2,
              pending: metricValue(text, 'account_deletions_pending'),
            };
          },
          { timeout: 90_000, interval: 1_000 },
        )
        .toEqual({ failing: [], sweepFailures: true, deletionFailures: true, pending: 1 });

      // Up and ready for its own needs (MongoDB and Redis) the whole time.
      expect(await status(`${c.proc.url}/ready`)).toBe(200);
      expect(await status(`${c.proc.url}/health`)).toBe(200);
      expect(c.proc.child.exitCode).toBeNull();
      expect(c.proc.output()).not.toMatch(/shutting down|"level":"fatal"/);
      // Nothing confirmed the objects gone: attachments has not completed the deletion.
      const done = await mongo
        .db(c.dbName)
        .collection('account_deletion_done')
        .countDocuments({ _id: `attachments:${c.userId}` } as never);
      expect(done).toBe(0);
      // The failure is logged in one line: no request dump (signatures) from the SDK.
      expect(c.proc.output()).toContain('account deletion failed; retried at a later pass');
      expect(c.proc.output()).not.toMatch(/Qiniu faults-access-key:|authorization/i);
    },
  );

  it('the gateway with a black-holed JWKS URL stays ready and answers 503 + Retry-After within its timeout', async () => {
    const token = await signTestToken(keys, { sub: randomUUID() });
    const res = await fetch(`${gateway.url}/sync/changes?since=0`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(20_000),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await status(`${gateway.url}/ready`)).toBe(200);
    const text = await metrics(gateway);
    expect(
      metricValue(text, 'dependency_failures_total', { dependency: 'jwks' }),
    ).toBeGreaterThanOrEqual(1);
    expect(gateway.child.exitCode).toBeNull();
  });
});
