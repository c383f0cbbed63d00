import { randomUUID } from 'node:crypto';
import { loadConfig } from '@journal/shared';
import { exportPKCS8 } from 'jose';
import type { CommandStartedEvent, Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp as buildAttachments } from '../../services/attachments/src/app.js';
import { configSchema as attachmentsSchema } from '../../services/attachments/src/config.js';
import { buildApp as buildAuth } from '../../services/auth/src/app.js';
import { configSchema as authSchema } from '../../services/auth/src/config.js';
import { buildApp as buildSync } from '../../services/sync/src/app.js';
import { configSchema as syncSchema } from '../../services/sync/src/config.js';
import { bundleWrite, envelope } from '../../test-support/encryption.js';
import {
  mongoUrl,
  redisUrl,
  silentLogger,
  testKeys,
  testMongo,
  testRedis,
} from '../../test-support/index.js';
import { SHARDING_PLAN } from './plan.js';

/**
 * The sharding plan (tests/sharding/plan.ts) against the code: the auth, sync and attachments
 * apps run in-process on one database of the real test server, create their indexes, and serve
 * a walk through every route family while MongoDB command monitoring records each command;
 * the background jobs (purge, orphan sweep) run once too. Then: every collection has a plan
 * row, every unique index of a sharded collection starts with the shard key, and every filter
 * and inserted document on a sharded collection carries the shard key (or is a listed
 * background broadcast).
 */

type Mongo = Awaited<ReturnType<typeof testMongo>>;
let mongo: Mongo;
let redis: Awaited<ReturnType<typeof testRedis>>;
const commands: CommandStartedEvent[] = [];
let apps: {
  auth: Awaited<ReturnType<typeof buildAuth>>;
  sync: Awaited<ReturnType<typeof buildSync>>;
  attachments: Awaited<ReturnType<typeof buildAttachments>>;
};

beforeAll(async () => {
  mongo = await testMongo('sharding', { monitorCommands: true });
  mongo.client.on('commandStarted', (e) => commands.push(e));
  redis = await testRedis('sharding');
  const keys = await testKeys();
  const env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MONGODB_URL: mongoUrl(),
    MONGODB_DB_NAME: mongo.dbName,
    REDIS_URL: redisUrl(),
    REDIS_KEY_PREFIX: redis.keyPrefix,
    JWT_PUBLIC_KEYS: keys.jwks,
  };
  const deps = { logger: silentLogger(), db: mongo.db, redis: redis.redis };
  apps = {
    auth: await buildAuth({
      ...deps,
      config: loadConfig(authSchema, {
        ...env,
        JWT_PRIVATE_KEY: await exportPKCS8(keys.privateKey),
        JWT_KEY_ID: keys.kid,
        PASSWORD_SCRYPT_LOG_N: '10',
      }),
    }),
    sync: await buildSync({
      ...deps,
      config: loadConfig(syncSchema, { ...env, SYNC_PURGE_INTERVAL_SECONDS: '0' }),
    }),
    attachments: await buildAttachments({
      ...deps,
      config: loadConfig(attachmentsSchema, { ...env, ATTACHMENTS_SWEEP_INTERVAL_SECONDS: '0' }),
    }),
  };
  await Promise.all(Object.values(apps).map((a) => a.ready()));
});

afterAll(async () => {
  await Promise.all(Object.values(apps ?? {}).map((a) => a.close()));
  await mongo?.drop();
  await redis?.cleanup();
});

/** Every route family of the three storage services, as clients use them. */
async function walk(): Promise<void> {
  const { auth, sync, attachments } = apps;
  const json = (r: { body: string }) => JSON.parse(r.body) as Record<string, unknown>;
  const username = `shard_${randomUUID().slice(0, 8)}`;
  const password = 'correct horse battery staple';
  const reg = await auth.inject({
    method: 'POST',
    url: '/auth/register',
    payload: { username, password, deviceName: 'a' },
  });
  expect(reg.statusCode, reg.body).toBe(201);
  const login = await auth.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { username: username.toUpperCase(), password, deviceName: 'b' },
  });
  expect(login.statusCode, login.body).toBe(200);
  const wrong = await auth.inject({
    method: 'POST',
    url: '/auth/login',
    payload: { username, password: 'wrong password!' },
  });
  expect(wrong.statusCode).toBe(401);
  const first = json(reg);
  const refreshed = await auth.inject({
    method: 'POST',
    url: '/auth/refresh',
    payload: { refreshToken: first.refreshToken },
  });
  expect(refreshed.statusCode, refreshed.body).toBe(200);
  // Reuse of the replaced refresh token ends the session.
  const reuse = await auth.inject({
    method: 'POST',
    url: '/auth/refresh',
    payload: { refreshToken: first.refreshToken },
  });
  expect(reuse.statusCode).toBe(401);
  const token = json(login).accessToken as string;
  const authorization = `Bearer ${token}`;
  for (const url of ['/auth/me', '/auth/sessions']) {
    const res = await auth.inject({ url, headers: { authorization } });
    expect(res.statusCode, `${url} ${res.body}`).toBe(200);
  }

  const push = (changes: unknown[], headers: Record<string, string> = {}) =>
    sync.inject({
      method: 'POST',
      url: '/sync/push',
      headers: { authorization, ...headers },
      payload: { changes },
    });
  expect(
    (await push([{ id: 'e1', baseRevision: 0, content: { t: 1 } }], { 'idempotency-key': 'k1' }))
      .statusCode,
  ).toBe(200);
  expect((await push([{ id: 'e1', baseRevision: 1, content: { t: 2 } }])).statusCode).toBe(200);
  expect((await push([{ id: 'e1', baseRevision: 1, content: { t: 3 } }])).statusCode).toBe(200); // conflict
  expect((await push([{ id: 'e2', baseRevision: 0, content: {} }])).statusCode).toBe(200);
  expect((await push([{ id: 'e2', baseRevision: 3, deleted: true }])).statusCode).toBe(200);
  for (const url of [
    '/sync/changes?since=0',
    '/sync/changes?since=1&limit=1',
    '/sync/changes?since=4&wait=1',
  ]) {
    const res = await sync.inject({ url, headers: { authorization } });
    expect(res.statusCode, `${url} ${res.body}`).toBe(200);
  }

  const put = await attachments.inject({
    method: 'PUT',
    url: '/attachments/pic-1',
    headers: { authorization, 'content-type': 'image/png' },
    payload: Buffer.alloc(600_000, 7),
  });
  expect(put.statusCode, put.body).toBeLessThan(300);
  const replace = await attachments.inject({
    method: 'PUT',
    url: '/attachments/pic-1',
    headers: { authorization, 'content-type': 'image/png' },
    payload: Buffer.alloc(600_000, 7), // the same content again: an idempotent repeat
  });
  expect(replace.statusCode, replace.body).toBeLessThan(300);
  for (const headers of [{}, { range: 'bytes=10-20' }]) {
    const res = await attachments.inject({
      url: '/attachments/pic-1',
      headers: { authorization, ...headers },
    });
    expect(res.statusCode).toBeLessThan(300);
  }
  const list = await attachments.inject({ url: '/attachments', headers: { authorization } });
  expect(list.statusCode, list.body).toBe(200);
  const del = await attachments.inject({
    method: 'DELETE',
    url: '/attachments/pic-1',
    headers: { authorization },
  });
  expect(del.statusCode, del.body).toBe(204);

  // End-to-end encryption: the key bundle, the push check, both finish calls (docs/encryption.md).
  const enabled = await auth.inject({
    method: 'PUT',
    url: '/auth/encryption',
    headers: { authorization },
    payload: { expectedVersion: 0, bundle: bundleWrite() },
  });
  expect(enabled.statusCode, enabled.body).toBe(200);
  expect(
    (await auth.inject({ url: '/auth/encryption', headers: { authorization } })).statusCode,
  ).toBe(200);
  expect((await push([{ id: 'e9', baseRevision: 0, content: { t: 1 } }])).statusCode).toBe(403);
  expect((await push([{ id: 'e1', baseRevision: 2, content: envelope() }])).statusCode).toBe(200);
  for (const app of [sync, attachments]) {
    const prefix = app === sync ? '/sync' : '/attachments';
    const finished = await app.inject({
      method: 'POST',
      url: `${prefix}/encryption/finish`,
      headers: { authorization },
    });
    expect(finished.statusCode, finished.body).toBe(200);
  }

  const logout = await auth.inject({
    method: 'POST',
    url: '/auth/logout',
    headers: { authorization },
    payload: { allDevices: true },
  });
  expect(logout.statusCode, logout.body).toBe(204);

  // The background jobs, as if their time had come.
  const future = new Date(Date.now() + 400 * 86_400_000);
  await apps.sync.sync.purger.runOnce(future);
  await apps.attachments.attachments.sweeper.runOnce(future);
}

const FILTER_COMMANDS: Record<string, (cmd: Document) => Document[]> = {
  find: (c) => [c.filter ?? {}],
  count: (c) => [c.query ?? {}],
  distinct: (c) => [c.query ?? {}],
  findAndModify: (c) => [c.query ?? {}],
  update: (c) => (c.updates as Document[]).map((u) => u.q ?? {}),
  delete: (c) => (c.deletes as Document[]).map((d) => d.q ?? {}),
  aggregate: (c) => {
    const match = (c.pipeline as Document[])[0]?.$match;
    return [match ?? {}];
  },
};

/** True when `filter` pins every shard-key field to one value or a list of values. */
function targets(filter: Document, fields: string[]): boolean {
  const and = Array.isArray(filter.$and) ? (filter.$and as Document[]) : [];
  return fields.every((field) =>
    [filter, ...and].some((f) => {
      if (!(field in f)) return false;
      const v = f[field];
      if (v === null || typeof v !== 'object' || v instanceof Date || v._bsontype) return true;
      return '$eq' in v || '$in' in v;
    }),
  );
}

describe('the sharding plan', () => {
  it('every collection has a row, every unique index and every query fits it', async () => {
    await walk();
    const collections = (await mongo.db.listCollections().toArray()).map((c) => c.name).sort();
    const missing = collections.filter((name) => !SHARDING_PLAN[name]);
    expect(missing, 'collections without a row in tests/sharding/plan.ts').toEqual([]);

    const problems: string[] = [];
    for (const name of collections) {
      const plan = SHARDING_PLAN[name];
      if (!plan || plan.shardKey === 'unsharded') continue;
      const keyFields = Object.keys(plan.shardKey);
      for (const index of await mongo.db.collection(name).listIndexes().toArray()) {
        if (!index.unique || index.name === '_id_') continue;
        const prefix = Object.keys(index.key).slice(0, keyFields.length);
        if (prefix.join() !== keyFields.join())
          problems.push(
            `${name}: unique index ${index.name} does not start with ${keyFields.join(', ')}`,
          );
      }
    }

    const queried = new Set<string>();
    for (const event of commands) {
      const cmd = event.command;
      const collection = String(cmd[event.commandName]);
      const plan = SHARDING_PLAN[collection];
      if (!plan || plan.shardKey === 'unsharded') continue;
      const keyFields = Object.keys(plan.shardKey);
      if (event.commandName === 'insert') {
        queried.add(collection);
        for (const doc of cmd.documents as Document[]) {
          if (!keyFields.every((f) => f in doc))
            problems.push(`${collection}: insert without ${keyFields.join(', ')}`);
        }
        continue;
      }
      const extract = FILTER_COMMANDS[event.commandName];
      if (!extract) continue;
      queried.add(collection);
      for (const filter of extract(cmd)) {
        if (targets(filter, keyFields)) continue;
        const fields = Object.keys(filter).sort().join();
        if (plan.broadcasts?.some((b) => [...b.fields].sort().join() === fields)) continue;
        problems.push(`${collection}: ${event.commandName} on {${fields}} is scatter-gather`);
      }
    }
    expect([...new Set(problems)]).toEqual([]);
    // The walk reached every sharded collection it could create (so the check means something).
    for (const name of [
      'entry_versions',
      'attachments',
      'attachments_content.files',
      'attachments_content.chunks',
    ]) {
      expect([...queried]).toContain(name);
    }
  });

  it('gives every row a reason and every sharded row a key', () => {
    for (const [name, plan] of Object.entries(SHARDING_PLAN)) {
      expect(plan.why.length, name).toBeGreaterThan(10);
      if (plan.shardKey !== 'unsharded')
        expect(Object.keys(plan.shardKey).length, name).toBeGreaterThan(0);
    }
  });
});
