import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/proc.js';
import { SERVICES } from '../../scripts/lib/stack.js';
import { type Account, type Client, client, registerUser } from '../../test-support/client.js';
import { type ServiceProcess, startServiceProcess } from '../../test-support/processes.js';
import { type QiniuStandIn, qiniuStandIn } from '../../test-support/qiniu-stand-in.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';
import { metricValue } from './fault-servers.js';

/**
 * An account deletion pending for 60 s while Qiniu cannot be reached, through the whole stack
 * as real processes (docs/operations.md, "Outside dependencies"): the stack's attachments
 * process points at a loopback port where nothing listens yet (every connection refused), and
 * a second attachments replica at a host that never resolves (`.invalid`). Every process stays
 * up and ready; the deletion stays open (auth and sync complete their parts, attachments cannot
 * confirm the bucket empty), the failures and the pending age show in the metrics; once Qiniu
 * answers on that port, the deletion completes and retires without a restart.
 */

const QINIU = { accessKey: 'outage-ak', secretKey: 'outage-sk-0123456789', bucket: 'outage' };
const OUTAGE_MS = 60_000;

let stack: TestStack;
let api: Client;
let replica: ServiceProcess;
let standIn: QiniuStandIn;
let qiniuPort: number;
let mongo: MongoClient;
let dbName: string;
let alice: Account;
let bob: Account;

function qiniuEnv(host: string): Record<string, string> {
  return {
    QINIU_ACCESS_KEY: QINIU.accessKey,
    QINIU_SECRET_KEY: QINIU.secretKey,
    QINIU_BUCKET_NAME: QINIU.bucket,
    QINIU_UPLOAD_DOMAIN: 'up.qiniu.invalid',
    QINIU_RS_HOST: host,
    QINIU_RSF_HOST: host,
    ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '1',
    ACCOUNT_DELETION_SETTLE_SECONDS: '2',
  };
}

beforeAll(async () => {
  standIn = qiniuStandIn(QINIU);
  qiniuPort = await freePort();
  stack = await startTestStack('qiniu-outage', {
    LOG_LEVEL: 'warn',
    ...qiniuEnv(`http://127.0.0.1:${qiniuPort}`),
  });
  dbName = stack.options.dbName ?? 'journal';
  replica = await startServiceProcess('attachments', {
    MONGODB_URL: stack.options.mongoUrl,
    MONGODB_DB_NAME: dbName,
    REDIS_URL: stack.options.redisUrl,
    REDIS_KEY_PREFIX: stack.options.env?.REDIS_KEY_PREFIX ?? '',
    JWT_PUBLIC_KEYS: stack.options.keys.jwks,
    ...qiniuEnv('http://qiniu-rs.invalid'),
  });
  mongo = await MongoClient.connect(stack.options.mongoUrl);
  api = client(stack.gateway);
  [alice, bob] = await Promise.all([registerUser(api, 'outage'), registerUser(api, 'bystander')]);
}, 180_000);

afterAll(async () => {
  await replica?.stop('SIGKILL');
  await stack?.stop();
  await standIn?.close().catch(() => {});
  await mongo?.db(dbName).dropDatabase();
  await mongo?.close();
});

async function ready(url: string): Promise<number> {
  return fetch(`${url}/ready`, { signal: AbortSignal.timeout(10_000) }).then(
    (r) => r.status,
    () => -1,
  );
}

async function metrics(base: string): Promise<string> {
  return (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
}

describe('Qiniu unreachable for 60 s with an account deletion pending', () => {
  it('keeps every process up and ready, shows the outage, and completes the deletion once Qiniu answers', async () => {
    const prefix = `users/${alice.userId}/`;
    standIn.objects.add(`${prefix}photo-1.jpg`);
    standIn.objects.add(`${prefix}photo-2.jpg`);
    standIn.objects.add(`users/${bob.userId}/kept.jpg`);
    const uploaded = await api.call('PUT', '/attachments/diary-photo', {
      token: alice.accessToken,
      body: new Uint8Array(2048).fill(7),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(uploaded.status, uploaded.text).toBe(201);
    const attachments = mongo.db(dbName).collection('attachments');
    expect(await attachments.countDocuments({ owner: alice.userId })).toBe(1);
    const deleted = await api.call('DELETE', '/auth/account', {
      token: alice.accessToken,
      json: { password: alice.password },
    });
    expect(deleted.status, deleted.text).toBe(202);
    const requestedAt = Date.now();
    const records = mongo.db(dbName).collection('account_deletions');
    const done = mongo.db(dbName).collection('account_deletion_done');

    // The outage: every process ready at every look, the deletion open all along.
    const urls = [...SERVICES.map((s) => stack.urls[s]), replica.url];
    let looks = 0;
    while (Date.now() - requestedAt < OUTAGE_MS) {
      expect(await Promise.all(urls.map(ready))).toEqual(urls.map(() => 200));
      expect(replica.child.exitCode).toBeNull();
      expect(await records.countDocuments({ _id: alice.userId } as never)).toBe(1);
      looks += 1;
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    }
    expect(looks).toBeGreaterThanOrEqual(6);
    // What the service stores itself went at once; only the completion waits for Qiniu.
    expect(await attachments.countDocuments({ owner: alice.userId })).toBe(0);
    // Auth and sync did their part; attachments (either replica) could not.
    await expect
      .poll(async () =>
        (await done.find({ userId: alice.userId } as never).toArray()).map((d) => d._id).sort(),
      )
      .toEqual([`auth:${alice.userId}`, `sync:${alice.userId}`]);
    expect([...standIn.objects].filter((k) => k.startsWith(prefix))).toHaveLength(2);

    // The metrics show it: Qiniu failures on both replicas, a sweep failing and retried, and the
    // age of the pending deletion (what JournalAccountDeletionStuck alerts on) from every service.
    for (const base of [stack.metricsUrls.attachments, replica.metricsUrl]) {
      const text = await metrics(base);
      expect(
        metricValue(text, 'dependency_failures_total', { dependency: 'qiniu' }),
      ).toBeGreaterThan(0);
      expect(
        metricValue(text, 'background_job_failures_total', { job: 'account_deletion' }),
      ).toBeGreaterThan(0);
      expect(metricValue(text, 'account_deletions_pending')).toBeGreaterThanOrEqual(1);
    }
    for (const service of ['auth', 'sync', 'attachments'] as const) {
      const text = await metrics(stack.metricsUrls[service]);
      expect(metricValue(text, 'account_deletion_oldest_pending_seconds')).toBeGreaterThanOrEqual(
        OUTAGE_MS / 1000,
      );
    }
    const logs = [...stack.logs(), replica.output()].join('\n');
    expect(logs).not.toMatch(/shutting down|"level":"fatal"/);

    // Qiniu answers again, on the very address the stack's attachments process was given.
    await standIn.listen(qiniuPort);
    await expect
      .poll(async () => records.countDocuments({ _id: alice.userId } as never), {
        timeout: 90_000,
        interval: 1_000,
      })
      .toBe(0);
    expect([...standIn.objects].filter((k) => k.startsWith(prefix))).toEqual([]);
    expect([...standIn.objects]).toContain(`users/${bob.userId}/kept.jpg`);
    await expect
      .poll(async () =>
        metricValue(
          await metrics(stack.metricsUrls.auth),
          'account_deletion_oldest_pending_seconds',
        ),
      )
      .toBe(0);
    // The replica that still cannot resolve its host is up and ready all the same.
    expect(await ready(replica.url)).toBe(200);
    expect(replica.child.exitCode).toBeNull();
  }, 240_000);
});
