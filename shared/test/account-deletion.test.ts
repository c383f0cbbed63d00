import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, silentLogger, testMongo, testRedis } from '../../test-support/index.js';
import {
  type AccountDeletionDoc,
  announceDeletion,
  createAccountDeletions,
  createDeletionSweeper,
  DELETION_SERVICES,
  DeletionPassError,
  type DeletionService,
  deleteKeys,
  deleteKeysMatching,
  userRateLimitKey,
} from '../src/account-deletion/index.js';
import { connectRedis } from '../src/redis.js';

let mongo: Awaited<ReturnType<typeof testMongo>>;
let redis: Awaited<ReturnType<typeof testRedis>>;
beforeAll(async () => {
  mongo = await testMongo('account_deletion');
  redis = await testRedis('account_deletion');
  await createAccountDeletions(mongo.db).ensureIndexes();
});
afterAll(async () => {
  await mongo.drop();
  await redis.cleanup();
});

function sweeper(
  service: DeletionService,
  deleteUser: (r: AccountDeletionDoc) => Promise<void>,
  settleSeconds = 0,
) {
  const registry = new Registry();
  return {
    registry,
    ...createDeletionSweeper({
      db: mongo.db,
      service,
      logger: silentLogger(),
      registry,
      settleSeconds,
      deleteUser,
    }),
  };
}

const noop = async () => {};

describe('deletion records', () => {
  it('a repeated request keeps the first one and its time', async () => {
    const deletions = createAccountDeletions(mongo.db);
    const first = await deletions.request('user-repeat', 'name');
    await new Promise((r) => setTimeout(r, 20));
    const again = await Promise.all([
      deletions.request('user-repeat', 'name'),
      deletions.request('user-repeat', 'name'),
    ]);
    expect(again.map((d) => d.getTime())).toEqual([first.getTime(), first.getTime()]);
    expect(
      await mongo.db
        .collection('account_deletions')
        .countDocuments({ _id: 'user-repeat' } as never),
    ).toBe(1);
    expect(await deletions.isDeleted('user-repeat')).toBe(true);
    expect(await deletions.isDeleted('someone-else')).toBe(false);
  });

  it('is retired only once every service has completed it, and then nothing names the user', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-retire', 'name');
    const seen: string[] = [];
    const sweepers = DELETION_SERVICES.map((service) =>
      sweeper(service, async (record) => {
        seen.push(`${service}:${record._id}`);
      }),
    );
    for (const s of sweepers.slice(0, 2)) await s.runOnce();
    expect(await deletions.isDeleted('user-retire')).toBe(true);
    expect((await deletions.pending('attachments')).map((r) => r._id)).toContain('user-retire');
    expect((await deletions.pending('auth')).map((r) => r._id)).not.toContain('user-retire');
    await sweepers[2]?.runOnce();
    expect(await deletions.isDeleted('user-retire')).toBe(false);
    const left = await mongo.db
      .collection('account_deletion_done')
      .countDocuments({ userId: 'user-retire' } as never);
    expect(left).toBe(0);
    for (const service of DELETION_SERVICES) expect(seen).toContain(`${service}:user-retire`);
  });

  it('a pass that fails completes nothing; the next pass repeats it', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-crash', 'name');
    let calls = 0;
    const s = sweeper('sync', async (record) => {
      if (record._id !== 'user-crash') return;
      calls += 1;
      if (calls === 1) throw new Error('killed half-way');
    });
    const failed = await s.runOnce().catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(DeletionPassError);
    expect(((failed as Error).cause as Error).message).toBe('killed half-way');
    expect((await deletions.pending('sync')).map((r) => r._id)).toContain('user-crash');
    await s.runOnce();
    expect(calls).toBe(2);
    expect((await deletions.pending('sync')).map((r) => r._id)).not.toContain('user-crash');
  });

  it('one deletion that fails does not hold up the others of the pass', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-stuck', 'stuck');
    await deletions.request('user-free', 'free');
    const s = sweeper('attachments', async (record) => {
      if (record._id === 'user-stuck') throw new Error('Qiniu list: getaddrinfo ENOTFOUND');
    });
    await expect(s.runOnce()).rejects.toBeInstanceOf(DeletionPassError);
    const pending = (await deletions.pending('attachments')).map((r) => r._id);
    expect(pending).toContain('user-stuck');
    expect(pending).not.toContain('user-free');
  });

  it('sweeps a young deletion on every pass but completes it only after the settle time', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-settle', 'name');
    let calls = 0;
    const s = sweeper(
      'attachments',
      async (record) => {
        if (record._id === 'user-settle') calls += 1;
      },
      3600,
    );
    await s.runOnce();
    await s.runOnce();
    expect(calls).toBe(2);
    expect((await deletions.pending('attachments')).map((r) => r._id)).toContain('user-settle');
    await s.runOnce(new Date(Date.now() + 3601_000));
    expect((await deletions.pending('attachments')).map((r) => r._id)).not.toContain('user-settle');
  });

  it('replicas sweeping at once each complete it exactly once, harmlessly', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-replicas', 'name');
    const replicas = Array.from({ length: 4 }, () => sweeper('sync', noop));
    await Promise.all(replicas.map((r) => r.runOnce()));
    const done = await mongo.db
      .collection('account_deletion_done')
      .find({ userId: 'user-replicas' } as never)
      .toArray();
    expect(done.map((d) => d._id)).toEqual(['sync:user-replicas']);
  });

  it('removes a completion a late replica inserted after the deletion was retired', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.complete('user-late', 'sync');
    await sweeper('auth', noop).runOnce();
    expect(
      await mongo.db
        .collection('account_deletion_done')
        .countDocuments({ userId: 'user-late' } as never),
    ).toBe(0);
  });

  it('reports the age of the oldest open deletion at scrape time, 0 when none', async () => {
    const s = sweeper('auth', noop);
    const read = async () => {
      const text = await s.registry.metrics();
      const line = text.split('\n').find((l) => l.startsWith('account_deletion_oldest_pending'));
      return Number(line?.split(' ').at(-1));
    };
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-gauge', 'name');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await read()).toBeGreaterThanOrEqual(1);
    // Every service completes every open deletion: nothing open any more.
    for (const service of DELETION_SERVICES) await sweeper(service, noop).runOnce();
    expect(await read()).toBe(0);
  });
});

describe('the Redis nudge', () => {
  it('starts a pass as soon as auth announces a deletion, long before the next tick', async () => {
    const deletions = createAccountDeletions(mongo.db);
    await deletions.request('user-nudged', 'name');
    const swept: string[] = [];
    const s = createDeletionSweeper({
      db: mongo.db,
      service: 'sync',
      logger: silentLogger(),
      registry: new Registry(),
      settleSeconds: 3600,
      deleteUser: async (record) => {
        swept.push(record._id);
      },
      nudge: { redis: redis.redis, keyPrefix: redis.keyPrefix },
    });
    s.start(3600);
    try {
      // The subscription is made in the background: announce until it is heard (≤ 5 s).
      for (let i = 0; i < 50 && !swept.includes('user-nudged'); i++) {
        await announceDeletion(redis.redis, redis.keyPrefix, 'user-nudged');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(swept).toContain('user-nudged');
      // Another service's channel (another key prefix) does not wake it.
      swept.length = 0;
      await announceDeletion(redis.redis, 'another-prefix:', 'user-nudged');
      await new Promise((r) => setTimeout(r, 300));
      expect(swept).toEqual([]);
    } finally {
      s.stop();
    }
  });
});

describe('deleteKeysMatching', () => {
  it('deletes exactly the matching keys under the client’s own prefix', async () => {
    const { redis: client, keyPrefix } = redis;
    await client.set(`${keyPrefix}sync:idem:u1:a`, '1');
    await client.set(`${keyPrefix}sync:idem:u1:b`, '1');
    await client.set(`${keyPrefix}sync:idem:u10:a`, '1');
    await client.set(`other-prefix:sync:idem:u1:a`, '1');
    const prefixed = await connectRedis(redisUrl(), { options: { keyPrefix } });
    const deleted = await deleteKeysMatching(prefixed, keyPrefix, 'sync:idem:u1:*');
    prefixed.disconnect();
    expect(deleted).toBe(2);
    expect(await client.exists(`${keyPrefix}sync:idem:u10:a`)).toBe(1);
    expect(await client.exists('other-prefix:sync:idem:u1:a')).toBe(1);
    await client.del('other-prefix:sync:idem:u1:a');
  });
});

describe('deleteKeys', () => {
  it('deletes exactly the named keys under the client’s prefix, one DEL each, and counts what existed', async () => {
    const { redis: client, keyPrefix } = redis;
    await client.set(`${keyPrefix}ratelimit:user:u2`, '1');
    await client.set(`${keyPrefix}sync:head:u2`, '1');
    await client.set(`${keyPrefix}sync:head:u20`, '1');
    const prefixed = await connectRedis(redisUrl(), { options: { keyPrefix } });
    const deleted = await deleteKeys(prefixed, [
      userRateLimitKey('u2'),
      'sync:head:u2',
      'sync:recent:u2',
    ]);
    prefixed.disconnect();
    expect(deleted).toBe(2);
    expect(await client.exists(`${keyPrefix}ratelimit:user:u2`)).toBe(0);
    expect(await client.exists(`${keyPrefix}sync:head:u2`)).toBe(0);
    expect(await client.exists(`${keyPrefix}sync:head:u20`)).toBe(1);
  });
});
