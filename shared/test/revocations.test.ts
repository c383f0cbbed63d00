import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, silentLogger, testMongo, testRedis } from '../../test-support/index.js';
import {
  connectRedis,
  createRedis,
  publishRevocation,
  type Redis,
  SESSION_REVOCATIONS,
  type SessionRevocationRecord,
  USER_REVOCATIONS,
  type UserRevocationRecord,
  watchRevocations,
} from '../src/index.js';

/** The revocation watch on the run's real MongoDB-wire server and Redis. */
let mongo: Awaited<ReturnType<typeof testMongo>>;
let raw: Awaited<ReturnType<typeof testRedis>>;
let redis: Redis;
beforeAll(async () => {
  mongo = await testMongo('revocations');
  raw = await testRedis('revocations');
  redis = await connectRedis(redisUrl(), { options: { keyPrefix: raw.keyPrefix } });
});
afterAll(async () => {
  redis.disconnect();
  await raw.cleanup();
  await mongo.drop();
});

const token = (sessionId: string, userId = 'u1', issuedAt = Math.floor(Date.now() / 1000) - 5) => ({
  sessionId,
  userId,
  issuedAt,
  expiresAt: issuedAt + 3600,
});

async function until(check: () => boolean, ms = 10_000): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
}

describe('watchRevocations', () => {
  it('loads what MongoDB holds before it resolves, within the token lifetime only', async () => {
    const now = Date.now();
    const later = new Date(now + 86_400_000);
    await mongo.db.collection<SessionRevocationRecord>(SESSION_REVOCATIONS).insertMany([
      {
        _id: 'stored',
        userId: 'u1',
        revokedAt: new Date(now - 1000),
        reason: 'logout',
        expiresAt: later,
      },
      // Older than every token it could cover: not loaded.
      {
        _id: 'ancient',
        userId: 'u1',
        revokedAt: new Date(now - 2 * 3600_000),
        reason: 'logout',
        expiresAt: later,
      },
    ]);
    await mongo.db.collection<UserRevocationRecord>(USER_REVOCATIONS).insertOne({
      _id: 'r1',
      userId: 'u2',
      revokedAt: new Date(now),
      keepSessionId: 'kept',
      reason: 'logout_all',
      expiresAt: later,
    });
    const watch = await watchRevocations({
      db: mongo.db,
      redis,
      keyPrefix: raw.keyPrefix,
      accessTtlSeconds: 3600,
      logger: silentLogger(),
    });
    try {
      expect(watch.isRevoked(token('stored'))).toBe(true);
      expect(watch.isRevoked(token('ancient'))).toBe(false);
      expect(watch.isRevoked(token('any', 'u2'))).toBe(true);
      expect(watch.isRevoked(token('kept', 'u2'))).toBe(false);
      expect(watch.size()).toEqual({ sessions: 1, users: 1 });
    } finally {
      await watch.close();
    }
  });

  it('learns a revocation published on the channel, and ignores junk there', async () => {
    const watch = await watchRevocations({
      db: mongo.db,
      redis,
      keyPrefix: raw.keyPrefix,
      accessTtlSeconds: 3600,
      logger: silentLogger(),
    });
    try {
      expect(watch.isRevoked(token('s-live'))).toBe(false);
      // Published only (not stored): proves the channel path; keep publishing until the
      // subscription, set up in the background, is active.
      const ms = await until(() => {
        void publishRevocation(redis, raw.keyPrefix, {
          kind: 'session',
          sessionId: 's-live',
          userId: 'u1',
          at: Date.now(),
        });
        return watch.isRevoked(token('s-live'));
      });
      console.log(`revocation seen by a live subscriber after ${ms} ms`);
      // Junk on the channel is ignored.
      await redis.publish(`${raw.keyPrefix}revocations`, '{"kind":"session"}');
      await redis.publish(`${raw.keyPrefix}revocations`, 'not json');
      expect(watch.isRevoked(token('s-other'))).toBe(false);
    } finally {
      await watch.close();
    }
  });

  it('starts from MongoDB alone when Redis is unreachable', async () => {
    await mongo.db.collection<SessionRevocationRecord>(SESSION_REVOCATIONS).insertOne({
      _id: 'while-redis-down',
      userId: 'u1',
      revokedAt: new Date(),
      reason: 'logout',
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const dead = createRedis('redis://127.0.0.1:1', { options: { keyPrefix: raw.keyPrefix } });
    try {
      const watch = await watchRevocations({
        db: mongo.db,
        redis: dead,
        keyPrefix: raw.keyPrefix,
        accessTtlSeconds: 3600,
        logger: silentLogger(),
      });
      expect(watch.isRevoked(token('while-redis-down'))).toBe(true);
      await watch.close();
    } finally {
      dead.disconnect();
    }
  });
});
