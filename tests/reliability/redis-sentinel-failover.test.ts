import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../../scripts/lib/stack.js';
import {
  client,
  expectNoSecretsIn,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import {
  expectFailoverOutcome,
  failoverUsers,
  startFailoverLoad,
} from '../../test-support/failover-load.js';
import { type SentinelSet, startSentinelSet, withNode } from '../../test-support/redis-topology.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * Redis Sentinel failover under load: a primary, a replica and three Sentinels
 * (down-after-milliseconds 1000) on loopback; the whole stack uses them through
 * REDIS_SENTINELS. The primary is SIGKILLed while clients log in, push, long-poll, read and
 * upload. Every call must succeed or answer a 503 problem within bounded time; calls succeed
 * again once the replica is promoted; every acknowledged push is stored exactly as pushed.
 */

let redis: SentinelSet;
let stack: TestStack;

beforeAll(async () => {
  redis = await startSentinelSet({ downAfterMs: 1_000 });
  stack = await startTestStack('sentinel', { LOG_LEVEL: 'warn', ...NO_RATE_LIMITS, ...redis.env });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

describe('Redis Sentinel: the primary dies under load', () => {
  it('fails over within seconds, each failed call a 503 problem, nothing acknowledged lost', async () => {
    const users = await failoverUsers(stack);
    const load = startFailoverLoad(stack, users, 'sentinel');
    // The stack works on this topology before the fault: a clean 3 s of every kind of call.
    await load.steady();

    // Writes in the primary's last moment that never reached the replica (replication is
    // asynchronous): cut the replica off (it cannot authenticate to re-sync), then log in and
    // push with an Idempotency-Key, then kill the primary.
    const api = client(stack.gateway);
    const late = await registerUser(api, 'late');
    await withNode(redis.replica.port, redis.password, (r) =>
      r.config('SET', 'masterauth', 'not-the-password'),
    );
    await withNode(redis.primary.port, redis.password, async (r) => {
      await r.call('CLIENT', 'KILL', 'TYPE', 'replica');
      while (!/connected_slaves:0/.test(await r.info('replication')))
        await new Promise((resolve) => setTimeout(resolve, 20));
    });
    const lateLogin = await api.post<{ accessToken: string; refreshToken: string }>('/auth/login', {
      username: late.username,
      password: late.password,
      deviceName: 'late',
    });
    expect(lateLogin.status, lateLogin.text).toBe(200);
    const latePushBody = { changes: [{ id: 'late-entry', baseRevision: 0, content: { n: 1 } }] };
    const latePush = await api.post<{ accepted: { id: string; revision: number }[] }>(
      '/sync/push',
      latePushBody,
      lateLogin.body.accessToken,
      { 'idempotency-key': 'late-key' },
    );
    expect(latePush.status, latePush.text).toBe(200);

    const oldPrimary = redis.primary.port;
    const killedAt = Date.now();
    await redis.primary.kill();
    await withNode(redis.replica.port, redis.password, (r) =>
      r.config('SET', 'masterauth', redis.password),
    );
    // Keep the load on until the Sentinels named the replica and calls work again for a while.
    const deadline = Date.now() + 60_000;
    while ((await redis.currentPrimaryPort().catch(() => oldPrimary)) === oldPrimary) {
      expect(Date.now() < deadline, 'Sentinels never promoted the replica').toBe(true);
      await new Promise((r) => setTimeout(r, 200));
    }
    await expectFailoverOutcome(stack, load, {
      label: 'sentinel',
      killedAt,
      overAt: Date.now(),
      overName: 'promotedAfterMs',
    });
    expect(await redis.currentPrimaryPort()).toBe(redis.replica.port);

    // What the failover lost, and that the answers stay right. The session written only on the
    // dead primary is gone: its token is refused (401, never someone else's data), and a
    // refresh (the refresh token is in MongoDB) brings the device back.
    const sid = (
      JSON.parse(
        Buffer.from(lateLogin.body.accessToken.split('.')[1] ?? '', 'base64url').toString(),
      ) as { sid: string }
    ).sid;
    const prefix = stack.options.env?.REDIS_KEY_PREFIX ?? '';
    expect(
      await withNode(redis.replica.port, redis.password, (r) => r.get(`${prefix}session:${sid}`)),
    ).toBeNull();
    const lostMe = await api.get('/auth/me', lateLogin.body.accessToken);
    expectProblem(lostMe, 401, 'unauthorized');
    const renewed = await api.post<{ accessToken: string }>('/auth/refresh', {
      refreshToken: lateLogin.body.refreshToken,
    });
    expect(renewed.status, renewed.text).toBe(200);
    expect((await api.get('/auth/me', renewed.body.accessToken)).status).toBe(200);
    // The idempotency reply written only on the dead primary is gone: the retry runs again, is
    // accepted as identical to the stored entry, and the entry exists once.
    const retried = await api.post<{ accepted: { id: string; revision: number }[] }>(
      '/sync/push',
      latePushBody,
      renewed.body.accessToken,
      { 'idempotency-key': 'late-key' },
    );
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body.accepted).toEqual(latePush.body.accepted);
    const feed = await api.get<{ changes: { id: string }[] }>(
      '/sync/changes?since=0',
      renewed.body.accessToken,
    );
    expect(feed.body.changes.map((c) => c.id)).toEqual(['late-entry']);
    expectNoSecretsIn(stack.logs(), [redis.password, redis.sentinelPassword]);
  }, 120_000);
});
