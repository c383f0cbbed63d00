import { createHash, randomBytes } from 'node:crypto';
import { connectMongo, connectRedis, type MongoHandle, type Redis } from '@journal/shared';
import { Binary, BSON, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../../scripts/lib/stack.js';
import {
  type Account,
  type Client,
  client,
  expectNoSecretsIn,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import { bundleWrite } from '../../test-support/encryption.js';
import { mongoUrl, redisUrl } from '../../test-support/index.js';
import { type QiniuStandIn, qiniuStandIn } from '../../test-support/qiniu-stand-in.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * Account deletion through the whole stack (docs/api.md, "Auth": the account lifecycle): four
 * real service processes, the run's MongoDB-wire server and Redis, and a loopback stand-in of
 * Qiniu.
 */

const QINIU = { accessKey: 'e2e-deletion-ak', secretKey: 'e2e-deletion-sk-0123456', bucket: 'jd' };
const CHUNK = 255 * 1024;

let stack: TestStack;
let api: Client;
let mongo: MongoHandle;
let redis: Redis;
let keyPrefix: string;
let qiniu: QiniuStandIn;
let bob: Account;
let bobFiles: Map<string, Buffer>;

beforeAll(async () => {
  qiniu = qiniuStandIn(QINIU);
  const qiniuUrl = await qiniu.listen();
  stack = await startTestStack('e2e-deletion', {
    ...NO_RATE_LIMITS,
    ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '1',
    ACCOUNT_DELETION_SETTLE_SECONDS: '2',
    QINIU_ACCESS_KEY: QINIU.accessKey,
    QINIU_SECRET_KEY: QINIU.secretKey,
    QINIU_BUCKET_NAME: QINIU.bucket,
    QINIU_UPLOAD_DOMAIN: 'upload.example.com',
    QINIU_RS_HOST: qiniuUrl,
    QINIU_RSF_HOST: qiniuUrl,
  });
  api = client(stack.gateway);
  keyPrefix = stack.options.env?.REDIS_KEY_PREFIX ?? '';
  mongo = await connectMongo(mongoUrl(), {
    dbName: stack.options.dbName ?? 'journal',
    connectTimeoutMs: 30_000,
  });
  redis = await connectRedis(redisUrl(), { connectTimeoutMs: 30_000 });
  // Bob is the bystander whose data must survive every deletion byte for byte.
  bob = await registerUser(api, 'bob');
  bobFiles = await fill(bob, { entries: 20, small: 2, large: 1 });
}, 180_000);

/** Passwords and tokens the tests used: none may appear in any service's log lines. */
const secrets: string[] = [QINIU.secretKey];

afterAll(async () => {
  const logs = stack?.logs() ?? [];
  await stack?.stop();
  await mongo?.db.dropDatabase().catch(() => {});
  await mongo?.close();
  redis?.disconnect();
  await qiniu?.close();
  expectNoSecretsIn(logs, secrets);
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function login(account: Account, deviceName: string): Promise<string> {
  const res = await api.post<{ accessToken: string }>('/auth/login', {
    username: account.username,
    password: account.password,
    deviceName,
  });
  expect(res.status, res.text).toBe(200);
  return res.body.accessToken;
}

async function push(token: string, changes: unknown[], headers: Record<string, string> = {}) {
  return api.call<{ accepted: { id: string; revision: number }[] }>('POST', '/sync/push', {
    token,
    json: { changes, deviceId: 'dev-1' },
    headers,
  });
}

function upload(token: string, id: string, bytes: Buffer) {
  return api.call('PUT', `/attachments/${id}`, {
    token,
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
}

/**
 * Gives `who` entries (some edited, some deleted: superseded versions and tombstones), a
 * replayable push under an Idempotency-Key, attachments (small and multi-chunk), a Qiniu
 * object with its upload record, and the leftovers of an upload whose process died (a pending
 * marker and a chunk). Returns the attachments' bytes by id.
 */
async function fill(
  who: Account,
  sizes: { entries: number; small: number; large: number; largeBytes?: number },
): Promise<Map<string, Buffer>> {
  secrets.push(who.password, who.accessToken, who.refreshToken);
  const ids = Array.from({ length: sizes.entries }, (_, i) => `e${i}`);
  for (let i = 0; i < ids.length; i += 500) {
    const changes = ids.slice(i, i + 500).map((id) => ({
      id,
      baseRevision: 0,
      content: { title: `${who.username} ${id}`, body: randomBytes(64).toString('hex') },
    }));
    const res = await push(who.accessToken, changes);
    expect(res.status, res.text).toBe(200);
  }
  const heads = new Map<string, number>();
  const pulled = await api.get<{ changes: { id: string; revision: number }[] }>(
    '/sync/changes?since=0&limit=1000',
    who.accessToken,
  );
  for (const c of pulled.body.changes) heads.set(c.id, c.revision);
  const edits = ids.slice(0, 3).map((id) => ({
    id,
    baseRevision: heads.get(id),
    content: { title: 'edited' },
  }));
  const tombstones = ids.slice(3, 6).map((id) => ({
    id,
    baseRevision: heads.get(id),
    deleted: true,
  }));
  const edited = await push(who.accessToken, [...edits, ...tombstones], {
    'idempotency-key': `idem-${who.userId}`,
  });
  expect(edited.status, edited.text).toBe(200);
  expect(edited.body.accepted).toHaveLength(6);

  const files = new Map<string, Buffer>();
  for (let i = 0; i < sizes.small; i++) files.set(`small-${i}`, randomBytes(1000 + i));
  for (let i = 0; i < sizes.large; i++) {
    files.set(`large-${i}`, randomBytes(sizes.largeBytes ?? 2 * CHUNK + 17));
  }
  for (const [id, bytes] of files) {
    const res = await upload(who.accessToken, id, bytes);
    expect(res.status, res.text).toBe(201);
  }

  const key = `users/${who.userId}/direct/photo.jpg`;
  qiniu.objects.add(key);
  qiniu.objects.add(`users/${who.userId}/direct/video.mp4`);
  await mongo.db.collection('qiniu_uploads').insertOne({
    key,
    owner: who.userId,
    bucket: QINIU.bucket,
    size: 3,
    hash: 'Fh',
    mimeType: 'image/jpeg',
    uploadedAt: new Date(),
  });
  const orphan = new ObjectId();
  await mongo.db
    .collection('attachments_pending')
    .insertOne({ _id: orphan, owner: who.userId, id: 'interrupted', at: new Date() });
  await mongo.db
    .collection('attachments_content.chunks')
    .insertOne({ files_id: orphan, n: 0, data: new Binary(randomBytes(100)) });
  return files;
}

/** Every document of every collection (EJSON text), and every Redis key with its value. */
async function everything(): Promise<{ docs: Map<string, string[]>; redis: string[] }> {
  const docs = new Map<string, string[]>();
  for (const { name } of await mongo.db.listCollections({}, { nameOnly: true }).toArray()) {
    const found = await mongo.db.collection(name).find({}).toArray();
    docs.set(name, found.map((d) => BSON.EJSON.stringify(d, { relaxed: false })).sort());
  }
  const entries: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string'
          ? await redis.get(key)
          : type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : type === 'set'
              ? JSON.stringify(await redis.smembers(key))
              : type === 'zset'
                ? JSON.stringify(await redis.zrange(key, 0, -1))
                : type === 'list'
                  ? JSON.stringify(await redis.lrange(key, 0, -1))
                  : type;
      entries.push(`${key} = ${value}`);
    }
  } while (cursor !== '0');
  return { docs, redis: entries };
}

/** Asserts that nothing in MongoDB, Redis or the bucket names `userId`. */
async function expectNoTrace(userId: string): Promise<void> {
  const all = await everything();
  const hits: string[] = [];
  for (const [name, docs] of all.docs) {
    for (const doc of docs) if (doc.includes(userId)) hits.push(`${name}: ${doc.slice(0, 200)}`);
  }
  for (const entry of all.redis) if (entry.includes(userId)) hits.push(`redis: ${entry}`);
  for (const key of qiniu.objects) if (key.includes(userId)) hits.push(`qiniu: ${key}`);
  expect(hits).toEqual([]);
}

/** Bob's documents in every collection: must not change while others are deleted. */
async function bobsDocuments(): Promise<string[]> {
  const { docs } = await everything();
  return [...docs].flatMap(([name, list]) =>
    list.filter((d) => d.includes(bob.userId)).map((d) => `${name}: ${d}`),
  );
}

/** Waits until every service has completed the deletion and it was retired; returns the ms. */
async function waitForDeletion(userId: string, since: number, timeoutMs = 60_000) {
  const deadline = since + timeoutMs;
  for (;;) {
    const open = await mongo.db.collection('account_deletions').findOne({ _id: userId } as never);
    const done = await mongo.db
      .collection('account_deletion_done')
      .countDocuments({ userId } as never);
    if (!open && done === 0) return Date.now() - since;
    if (Date.now() > deadline) throw new Error(`deletion of ${userId} not complete in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectBobIntact(before: string[]): Promise<void> {
  expect(await bobsDocuments()).toEqual(before);
  for (const [id, bytes] of bobFiles) {
    const res = await fetch(`${stack.gateway}/attachments/${id}`, {
      headers: { authorization: `Bearer ${bob.accessToken}` },
    });
    expect(res.status).toBe(200);
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(sha(bytes));
  }
  const pulled = await api.get<{ changes: unknown[] }>('/sync/changes?since=0', bob.accessToken);
  expect(pulled.body.changes).toHaveLength(20);
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

const NEW_PASSWORD = 'erin’s new passphrase';
secrets.push(NEW_PASSWORD);

const sessionIdOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sid;

describe('password change and session revocation through the gateway', () => {
  it('refuses ended sessions at the gateway on every service’s paths, the caller’s stays', async () => {
    const erin = await registerUser(api, 'erin');
    secrets.push(erin.password);
    const [laptop, tablet] = [await login(erin, 'laptop'), await login(erin, 'tablet')];
    expectProblem(
      await api.call('DELETE', `/auth/sessions/${sessionIdOf(bob.accessToken)}`, {
        token: erin.accessToken,
      }),
      404,
      'not_found',
    );
    expect((await api.get('/sync/changes', bob.accessToken)).status).toBe(200);
    const revoked = await api.call('DELETE', `/auth/sessions/${sessionIdOf(laptop)}`, {
      token: erin.accessToken,
    });
    expect(revoked.status, revoked.text).toBe(204);
    expectProblem(await api.get('/sync/changes', laptop), 401, 'unauthorized');
    expectProblem(await api.get('/attachments', laptop), 401, 'unauthorized');
    expect((await api.get('/sync/changes', tablet)).status).toBe(200);

    expectProblem(
      await api.call('POST', '/auth/password', {
        token: erin.accessToken,
        json: { currentPassword: erin.password, newPassword: 'x'.repeat(20_000) },
      }),
      413,
      'payload_too_large',
    );
    expectProblem(
      await api.post('/auth/password', { currentPassword: 'wrong', newPassword: 'new enough' }),
      401,
      'unauthorized',
    );
    const changed = await api.call('POST', '/auth/password', {
      token: erin.accessToken,
      json: { currentPassword: erin.password, newPassword: NEW_PASSWORD },
    });
    expect(changed.status, changed.text).toBe(204);
    expectProblem(await api.get('/sync/changes', tablet), 401, 'unauthorized');
    expectProblem(await api.get('/attachments', tablet), 401, 'unauthorized');
    expect((await api.get('/sync/changes', erin.accessToken)).status).toBe(200);
    expect((await api.post('/auth/refresh', { refreshToken: erin.refreshToken })).status).toBe(200);
    expectProblem(
      await api.post('/auth/login', { username: erin.username, password: erin.password }),
      401,
      'invalid_credentials',
    );
  });
});

describe('DELETE /auth/account across every service', () => {
  it('leaves nothing of the user anywhere within the deadline, and the name is free', async () => {
    const alice = await registerUser(api, 'alice');
    const tokens = [alice.accessToken, await login(alice, 'laptop'), await login(alice, 'tablet')];
    await fill(alice, { entries: 30, small: 2, large: 1 });
    // End-to-end encryption on too: a key bundle and the account's encryption record.
    const encrypted = await api.call('PUT', '/auth/encryption', {
      token: alice.accessToken,
      json: { expectedVersion: 0, bundle: bundleWrite() },
    });
    expect(encrypted.status, encrypted.text).toBe(200);
    const bobBefore = await bobsDocuments();
    expect(bobBefore.length).toBeGreaterThan(20);
    const completedBefore = await metric(
      stack.metricsUrls.sync,
      'account_deletions_completed_total',
    );

    const started = Date.now();
    const res = await api.call('DELETE', '/auth/account', {
      token: tokens[1],
      json: { password: alice.password },
    });
    expect(res.status, res.text).toBe(202);
    // Before the 202: every session over, credentials dead, name free.
    for (const token of tokens) {
      expectProblem(await api.get('/sync/changes', token), 401, 'unauthorized');
      expectProblem(await api.get('/auth/me', token), 401, 'unauthorized');
    }
    expectProblem(
      await api.post('/auth/refresh', { refreshToken: alice.refreshToken }),
      401,
      'unauthorized',
    );
    expectProblem(
      await api.post('/auth/login', { username: alice.username, password: alice.password }),
      401,
      'invalid_credentials',
    );

    const ms = await waitForDeletion(alice.userId, started);
    console.log(`deletion of 36 versions, 3 attachments, 2 Qiniu objects: ${ms} ms`);
    expect(ms).toBeLessThan(60_000);
    await expectNoTrace(alice.userId);
    await expectBobIntact(bobBefore);

    const again = await api.post<{ user: { id: string }; accessToken: string }>('/auth/register', {
      username: alice.username,
      password: 'a new person entirely',
    });
    expect(again.status).toBe(201);
    expect(again.body.user.id).not.toBe(alice.userId);
    const token = again.body.accessToken;
    expect((await api.get('/sync/changes?since=0', token)).body).toMatchObject({ changes: [] });
    expect((await api.get('/attachments', token)).body).toMatchObject({ attachments: [] });
    expect((await api.get('/attachments/small-0', token)).status).toBe(404);
    expect((await api.get('/auth/sessions', token)).body.sessions).toHaveLength(1);

    expect(await metric(stack.metricsUrls.sync, 'account_deletions_completed_total')).toBe(
      completedBefore + 1,
    );
    expect(await metric(stack.metricsUrls.auth, 'auth_account_deletions_requested_total')).toBe(1);
    expect(
      await metric(stack.metricsUrls.attachments, 'account_deletion_oldest_pending_seconds'),
    ).toBe(0);
  }, 120_000);

  it('finishes after sync and attachments are SIGKILLed half-way, touching no one else', async () => {
    const carol = await registerUser(api, 'carol');
    const entries = 2000;
    const attachments = 60;
    await fill(carol, { entries, small: 0, large: attachments, largeBytes: CHUNK + 100 });
    const bobBefore = await bobsDocuments();
    const versions = () =>
      mongo.db.collection('entry_versions').countDocuments({ userId: carol.userId } as never);
    const metadata = () =>
      mongo.db.collection('attachments').countDocuments({ owner: carol.userId } as never);
    const completions = (service: string) =>
      mongo.db
        .collection('account_deletion_done')
        .countDocuments({ _id: `${service}:${carol.userId}` } as never);
    expect(await versions()).toBe(entries + 3 + 3);
    expect(await metadata()).toBe(attachments);

    const started = Date.now();
    const res = await api.call('DELETE', '/auth/account', {
      token: carol.accessToken,
      json: { password: carol.password },
    });
    expect(res.status, res.text).toBe(202);
    // Kill each as soon as its sweep has begun, before it has completed.
    const killWhen = async (service: 'sync' | 'attachments', count: () => Promise<number>) => {
      const initial = await count();
      for (;;) {
        if ((await count()) < initial) break;
        if (Date.now() - started > 30_000) throw new Error(`${service} never started deleting`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await stack.kill(service);
      return { left: await count(), completed: await completions(service) };
    };
    const [sync, att] = await Promise.all([
      killWhen('sync', versions),
      killWhen('attachments', metadata),
    ]);
    console.log(`killed mid-deletion: sync left ${sync.left} versions, attachments ${att.left}`);
    expect(sync.completed).toBe(0);
    expect(att.completed).toBe(0);
    // Down for a while: nothing completes without them.
    await new Promise((r) => setTimeout(r, 3000));
    expect(
      await mongo.db.collection('account_deletions').countDocuments({ _id: carol.userId } as never),
    ).toBe(1);

    await Promise.all([stack.restart('sync'), stack.restart('attachments')]);
    const ms = await waitForDeletion(carol.userId, started);
    console.log(
      `deletion of ${entries + 6} versions, ${attachments} two-chunk attachments with kills: ${ms} ms`,
    );
    await expectNoTrace(carol.userId);
    await expectBobIntact(bobBefore);
  }, 180_000);

  it('a device pushing and uploading while its account is deleted ends with 401s and leaves nothing', async () => {
    const dave = await registerUser(api, 'dave');
    secrets.push(dave.password, dave.accessToken);
    const other = await login(dave, 'other device');
    const bobBefore = await bobsDocuments();
    const statuses: number[] = [];
    let stop = false;
    const pusher = (async () => {
      for (let i = 0; !stop; i++) {
        const res = await push(dave.accessToken, [
          { id: `live-${i}`, baseRevision: 0, content: { n: i } },
        ]);
        statuses.push(res.status);
        if (res.status === 401) break;
      }
    })();
    const uploader = (async () => {
      for (let i = 0; !stop; i++) {
        const res = await upload(dave.accessToken, `live-${i}`, randomBytes(CHUNK + 10));
        statuses.push(res.status);
        if (res.status === 401) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    const started = Date.now();
    const res = await api.call('DELETE', '/auth/account', {
      token: other,
      json: { password: dave.password },
    });
    expect(res.status, res.text).toBe(202);
    const guard = setTimeout(() => {
      stop = true;
    }, 20_000);
    await Promise.all([pusher, uploader]);
    clearTimeout(guard);
    expect(statuses.filter((s) => s === 401)).toHaveLength(2);
    expect(statuses.filter((s) => s !== 200 && s !== 201 && s !== 401)).toEqual([]);
    expect(statuses.filter((s) => s === 200 || s === 201).length).toBeGreaterThan(2);
    // Still refused afterwards.
    expectProblem(
      await push(dave.accessToken, [{ id: 'after', baseRevision: 0, content: {} }]),
      401,
      'unauthorized',
    );

    await waitForDeletion(dave.userId, started);
    await expectNoTrace(dave.userId);
    await expectBobIntact(bobBefore);
  }, 120_000);
});
