import { describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/proc.js';
import { mongoUrl, redisUrl, uniqueName } from '../../test-support/index.js';
import { connectMongo, ensureIndexes } from '../src/mongo.js';
import { connectRedis } from '../src/redis.js';

describe('MongoDB client', () => {
  it('connects, and creating the same indexes twice is a no-op', async () => {
    const mongo = await connectMongo(mongoUrl(), { dbName: uniqueName('idx') });
    const col = mongo.db.collection('things');
    const indexes = [{ key: { owner: 1, id: 1 }, name: 'owner_id', unique: true }];
    await ensureIndexes(col, indexes);
    await ensureIndexes(col, indexes);
    const names = (await col.indexes()).map((i) => i.name);
    expect(names).toContain('owner_id');
    await col.insertOne({ owner: 'a', id: 'x' });
    await expect(col.insertOne({ owner: 'a', id: 'x' })).rejects.toMatchObject({ code: 11000 });
    await mongo.db.dropDatabase();
    await mongo.close();
  });

  it('adds a new index next to existing unique ones, and survives TTL options', async () => {
    const mongo = await connectMongo(mongoUrl(), { dbName: uniqueName('idx2') });
    const col = mongo.db.collection<{ owner: string; id: string; at: Date }>('things');
    await ensureIndexes(col, [{ key: { owner: 1, id: 1 }, unique: true }]);
    await ensureIndexes(col, [
      { key: { owner: 1, id: 1 }, unique: true },
      { key: { at: 1 }, name: 'at_ttl', expireAfterSeconds: 60 },
    ]);
    const names = (await col.indexes()).map((i) => i.name).sort();
    expect(names).toEqual(['_id_', 'at_ttl', 'owner_1_id_1']);
    await mongo.db.dropDatabase();
    await mongo.close();
  });

  it('gives up after its start-up deadline when nothing listens', async () => {
    const port = await freePort();
    const started = Date.now();
    await expect(
      connectMongo(`mongodb://127.0.0.1:${port}/`, {
        dbName: 'x',
        connectTimeoutMs: 1_500,
        clientOptions: { serverSelectionTimeoutMS: 300 },
      }),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});

describe('Redis client', () => {
  it('connects and fails fast instead of queueing while disconnected', async () => {
    const redis = await connectRedis(redisUrl());
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
    await expect(redis.ping()).rejects.toThrow();
  });

  it('rejects after its deadline when nothing listens', async () => {
    const port = await freePort();
    await expect(
      connectRedis(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 800 }),
    ).rejects.toThrow(/not reachable/);
  });
});
