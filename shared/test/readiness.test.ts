import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnMongo, spawnRedis } from '../../scripts/lib/deps.js';
import { silentLogger } from '../../test-support/index.js';
import { createServiceApp } from '../src/app.js';
import { connectMongo, type MongoHandle, pingMongo } from '../src/mongo.js';
import { connectRedis, pingRedis, type Redis } from '../src/redis.js';

// A Redis and a MongoDB-wire server of this file's own, so stopping them disturbs no other test.
let redisServer: Awaited<ReturnType<typeof spawnRedis>>;
let mongoServer: Awaited<ReturnType<typeof spawnMongo>>;
let redis: Redis;
let mongo: MongoHandle;
let app: Awaited<ReturnType<typeof createServiceApp>>;

beforeAll(async () => {
  [redisServer, mongoServer] = await Promise.all([spawnRedis(), spawnMongo()]);
  redis = await connectRedis(redisServer.url);
  mongo = await connectMongo(mongoServer.url, { dbName: 'readiness', stuckAfterMs: 0 });
  app = await createServiceApp({
    service: 'readiness-test',
    version: '0.0.1',
    logger: silentLogger(),
    checks: { mongodb: () => pingMongo(mongo.db), redis: () => pingRedis(redis) },
  });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  redis.disconnect();
  await mongo.close();
  await Promise.all([redisServer.destroy(), mongoServer.destroy()]);
});

async function readyStatus() {
  const res = await app.inject({ method: 'GET', url: '/ready' });
  return { status: res.statusCode, body: res.json() };
}

/** The journal_dependency_up samples the metrics listener would serve, by dependency. */
async function dependencyUp() {
  const text = await app.metrics.metrics();
  return Object.fromEntries(
    [...text.matchAll(/^journal_dependency_up\{dependency="(\w+)"[^}]*\} (\d)$/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    last = await fn();
  }
  return last;
}

describe('GET /ready against real servers', () => {
  it('is 200 while MongoDB and Redis answer', async () => {
    const { status, body } = await readyStatus();
    expect(status).toBe(200);
    expect(body.checks).toEqual({ mongodb: 'ok', redis: 'ok' });
    expect(await dependencyUp()).toEqual({ mongodb: 1, redis: 1 });
  });

  it('turns 503 not_ready naming redis when the Redis process stops, and recovers by itself', async () => {
    await redisServer.stop();
    const started = Date.now();
    const down = await eventually(readyStatus, (r) => r.status === 503, 5_000);
    expect(down.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(down.body).toMatchObject({ code: 'not_ready', status: 503, failed: ['redis'] });
    expect(down.body.detail).toContain('redis');
    expect(down.body.checks.mongodb).toBe('ok');
    // The gauge the "dependency unreachable" alert reads runs the same checks at each scrape.
    expect(await dependencyUp()).toEqual({ mongodb: 1, redis: 0 });

    await redisServer.start();
    const up = await eventually(readyStatus, (r) => r.status === 200, 10_000);
    expect(up.status).toBe(200);
    expect(await dependencyUp()).toEqual({ mongodb: 1, redis: 1 });
  });

  it('keeps /health at 200 whatever the dependencies do', async () => {
    const health = async () => (await app.inject({ method: 'GET', url: '/health' })).statusCode;
    expect(await health()).toBe(200);

    // Both down: /ready says so, /health (liveness: restarting would not help) stays 200.
    await Promise.all([redisServer.stop(), mongoServer.stop()]);
    const down = await eventually(
      readyStatus,
      (r) => r.status === 503 && r.body.failed?.length === 2,
      10_000,
    );
    expect(down.body.failed).toEqual(['mongodb', 'redis']);
    for (let i = 0; i < 3; i++) {
      expect(await health()).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
    }
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.json()).toMatchObject({ status: 'ok', service: 'readiness-test' });

    // Back up: ready again without a restart, and /health never moved.
    await Promise.all([redisServer.start(), mongoServer.start()]);
    const up = await eventually(readyStatus, (r) => r.status === 200, 20_000);
    expect(up.status).toBe(200);
    expect(await health()).toBe(200);
  }, 60_000);
});
