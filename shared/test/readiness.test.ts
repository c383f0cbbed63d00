import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRedis } from '../../scripts/lib/deps.js';
import { silentLogger, testMongo } from '../../test-support/index.js';
import { createServiceApp } from '../src/app.js';
import { pingMongo } from '../src/mongo.js';
import { connectRedis, pingRedis, type Redis } from '../src/redis.js';

// A Redis of this file's own, so stopping it disturbs no other test.
let redisServer: Awaited<ReturnType<typeof spawnRedis>>;
let redis: Redis;
let mongo: Awaited<ReturnType<typeof testMongo>>;
let app: Awaited<ReturnType<typeof createServiceApp>>;

beforeAll(async () => {
  redisServer = await spawnRedis();
  redis = await connectRedis(redisServer.url);
  mongo = await testMongo('readiness');
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
  await mongo.drop();
  await redisServer.destroy();
});

async function readyStatus() {
  const res = await app.inject({ method: 'GET', url: '/ready' });
  return { status: res.statusCode, body: res.json() };
}

/** The journal_dependency_up samples of GET /metrics, by dependency. */
async function dependencyUp() {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  return Object.fromEntries(
    [...res.body.matchAll(/^journal_dependency_up\{dependency="(\w+)"[^}]*\} (\d)$/gm)].map((m) => [
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
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
  });
});
