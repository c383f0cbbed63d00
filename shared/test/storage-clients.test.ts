import type { IndexDescription } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/proc.js';
import { mongoUrl, redisUrl, uniqueName } from '../../test-support/index.js';
import { connectMongo } from '../src/mongo.js';
import { connectRedis } from '../src/redis.js';
import { ensureIndexes, isDuplicateKey, purgeExpired } from '../src/storage.js';

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

  it('adds a new index next to existing unique ones, and a TTL index or its clean-up fallback', async () => {
    const mongo = await connectMongo(mongoUrl(), { dbName: uniqueName('idx2') });
    const col = mongo.db.collection<{ owner: string; id: string; at: Date }>('things');
    expect(await ensureIndexes(col, [{ key: { owner: 1, id: 1 }, unique: true }])).toBe(true);
    const indexes: IndexDescription[] = [
      { key: { owner: 1, id: 1 }, unique: true },
      { key: { at: 1 }, name: 'at_ttl', expireAfterSeconds: 60 },
    ];
    const serverExpires = await ensureIndexes(col, indexes);
    const names = (await col.indexes()).map((i) => i.name).sort();
    // MongoDB makes the TTL index; FerretDB 1.x, which has none, a plain one named for clean-up.
    expect(names).toEqual(['_id_', serverExpires ? 'at_ttl' : 'at_cleanup', 'owner_1_id_1']);
    // A later start-up reads that decision from the index names and creates nothing.
    expect(await ensureIndexes(col, indexes)).toBe(serverExpires);
    expect((await col.indexes()).map((i) => i.name).sort()).toEqual(names);

    // What the service does when the server does not expire documents itself.
    const old = new Date(Date.now() - 120_000);
    await col.insertMany([
      { owner: 'a', id: 'old', at: old },
      { owner: 'a', id: 'new', at: new Date() },
    ]);
    expect(await purgeExpired(col, 'at', 60)).toBe(1);
    expect((await col.find().toArray()).map((d) => d.id)).toEqual(['new']);
    await mongo.db.dropDatabase();
    await mongo.close();
  });

  it('recognises duplicate-key failures of single and bulk inserts, and nothing else', async () => {
    const mongo = await connectMongo(mongoUrl(), { dbName: uniqueName('dup') });
    const col = mongo.db.collection<{ k: string }>('things');
    await ensureIndexes(col, [{ key: { k: 1 }, name: 'k', unique: true }]);
    await col.insertOne({ k: 'a' });
    const single = await col.insertOne({ k: 'a' }).catch((err: unknown) => err);
    expect(isDuplicateKey(single)).toBe(true);
    const bulk = await col.insertMany([{ k: 'a' }, { k: 'a' }], { ordered: false }).catch((e) => e);
    expect(isDuplicateKey(bulk)).toBe(true);
    const other = await mongo.db.command({ noSuchCommand: 1 }).catch((err: unknown) => err);
    expect(other).toBeInstanceOf(Error);
    expect(isDuplicateKey(other)).toBe(false);
    expect(isDuplicateKey(new Error('E11000'))).toBe(false);
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
