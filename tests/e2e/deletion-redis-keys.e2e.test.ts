import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRedis } from '../../scripts/lib/deps.js';
import { type Account, type Client, client, registerUser } from '../../test-support/client.js';
import { mongoUrl } from '../../test-support/index.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * Account deletion touches the user's Redis keys by exact name and never walks the key space
 * (docs/account-deletion.md, "Redis keys"): a Redis of this test's own, watched with MONITOR
 * while the four services, as real processes, carry out a deletion. No SCAN or KEYS may reach
 * it; afterwards no key of the user is left, and a bystander's keys are all still there.
 */

let redisServer: Awaited<ReturnType<typeof spawnRedis>>;
let stack: TestStack;
let api: Client;
let redis: Redis;
let mongo: MongoClient;
let prefix: string;
let alice: Account;
let bob: Account;

beforeAll(async () => {
  redisServer = await spawnRedis();
  stack = await startTestStack(
    'deletion-keys',
    {
      LOG_LEVEL: 'warn',
      ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '1',
      ACCOUNT_DELETION_SETTLE_SECONDS: '2',
    },
    { redisUrl: redisServer.url },
  );
  prefix = stack.options.env?.REDIS_KEY_PREFIX ?? '';
  api = client(stack.gateway);
  redis = new Redis(redisServer.url);
  mongo = await MongoClient.connect(mongoUrl());
  [alice, bob] = await Promise.all([registerUser(api, 'alice'), registerUser(api, 'bob')]);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  redis?.disconnect();
  await mongo?.db(stack?.options.dbName ?? 'journal').dropDatabase();
  await mongo?.close();
  await redisServer?.destroy();
});

/** Leaves every per-user key family behind for `who` (through the gateway, as a client would). */
async function use(who: Account): Promise<void> {
  // A failed login: the failed-login counter of the name.
  const wrong = await api.post('/auth/login', {
    username: who.username,
    password: 'not-the-password-at-all',
    deviceName: 'x',
  });
  expect(wrong.status).toBe(401);
  // A push with an Idempotency-Key: idempotency records, head revision, recent changes; and
  // every authenticated call: the gateway's per-user counter.
  const pushed = await api.call('POST', '/sync/push', {
    token: who.accessToken,
    json: { changes: [{ id: 'e1', baseRevision: 0, content: { title: 'x' } }], deviceId: 'd1' },
    headers: { 'idempotency-key': `idem-${who.userId}` },
  });
  expect(pushed.status, pushed.text).toBe(200);
  const pulled = await api.get('/sync/changes?since=0', who.accessToken);
  expect(pulled.status, pulled.text).toBe(200);
}

/** Every key of this stack (the test's own SCAN: MONITOR is not listening now). */
async function allKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...page.map((k) => k.slice(prefix.length)));
  } while (cursor !== '0');
  return keys.sort();
}

/** The keys that belong to `who`: named after the user or the name, or a session of the user. */
async function keysOf(who: Account): Promise<string[]> {
  const mine: string[] = [];
  for (const key of await allKeys()) {
    if (key.includes(who.userId) || key.includes(who.username.toLowerCase())) mine.push(key);
    else if (key.startsWith('session:')) {
      const value = await redis.get(`${prefix}${key}`);
      if (value?.includes(who.userId)) mine.push(key);
    }
  }
  return mine;
}

describe('account deletion and Redis', () => {
  it('deletes every key of the user by name, with no SCAN or KEYS, and leaves the bystander’s', async () => {
    await Promise.all([use(alice), use(bob)]);
    const before = await keysOf(alice);
    // Each family is there to be deleted (so the test can fail).
    for (const family of [
      `ratelimit:login-username:${alice.username.toLowerCase()}`,
      `ratelimit:user:${alice.userId}`,
      `sync:recent:${alice.userId}`,
      `sync:idem:{${alice.userId}}:replies`,
      `quota:{${alice.userId}}:entries`,
      'session:',
    ]) {
      expect(
        before.some((k) => k.startsWith(family)),
        `${family} in ${before.join(', ')}`,
      ).toBe(true);
    }
    const bobBefore = await keysOf(bob);

    const monitor = await redis.monitor();
    const commands: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      commands.push(args);
    });
    try {
      const deleted = await api.call('DELETE', '/auth/account', {
        token: alice.accessToken,
        json: { password: alice.password },
      });
      expect(deleted.status, deleted.text).toBe(202);
      const records = mongo.db(stack.options.dbName).collection('account_deletions');
      await expect
        .poll(async () => records.countDocuments({ _id: alice.userId } as never), {
          timeout: 60_000,
          interval: 500,
        })
        .toBe(0);
    } finally {
      monitor.disconnect();
    }

    // MONITOR saw the deletion's work (so it was listening), and no key-space walk at all.
    const names = commands.map((args) => (args[0] ?? '').toLowerCase());
    expect(
      commands.some(
        (a) => a[0]?.toLowerCase() === 'del' && a[1] === `${prefix}sync:recent:${alice.userId}`,
      ),
    ).toBe(true);
    expect(names.filter((n) => n === 'scan' || n === 'keys')).toEqual([]);

    expect(await keysOf(alice)).toEqual([]);
    // The bystander's keys stay (rate-limit windows may have ended meanwhile: those expire).
    const lasting = bobBefore.filter((k) => !k.startsWith('ratelimit:'));
    expect(lasting.length).toBeGreaterThan(0);
    expect(await keysOf(bob)).toEqual(expect.arrayContaining(lasting));
  }, 120_000);
});
