import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoSecretsIn } from '../../test-support/client.js';
import {
  expectAckedEntriesStored,
  failoverUsers,
  figures,
  startFailoverLoad,
} from '../../test-support/failover-load.js';
import { type SentinelSet, startSentinelSet } from '../../test-support/redis-topology.js';
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
  stack = await startTestStack('sentinel', { LOG_LEVEL: 'warn', ...redis.env });
});

afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

describe('Redis Sentinel: the primary dies under load', () => {
  it('fails over within seconds, each failed call a 503 problem, nothing acknowledged lost', async () => {
    const users = await failoverUsers(stack);
    const load = startFailoverLoad(stack, users, 'sentinel');
    await new Promise((r) => setTimeout(r, 3_000));
    const before = load.calls.filter((c) => c.status >= 300 && c.status !== 401);
    expect(before, JSON.stringify(before)).toEqual([]);

    const oldPrimary = redis.primary.port;
    const killedAt = Date.now();
    await redis.primary.kill();
    // Keep the load on until the Sentinels named the replica and calls work again for a while.
    const deadline = Date.now() + 60_000;
    while ((await redis.currentPrimaryPort().catch(() => oldPrimary)) === oldPrimary) {
      expect(Date.now() < deadline, 'Sentinels never promoted the replica').toBe(true);
      await new Promise((r) => setTimeout(r, 200));
    }
    const promotedAt = Date.now();
    await new Promise((r) => setTimeout(r, 6_000));
    await load.stop();

    const f = figures(load.calls, killedAt, load.counters);
    process.stdout.write(
      `\nsentinel failover: ${JSON.stringify({ promotedAfterMs: promotedAt - killedAt, ...f, failures: undefined })}\n`,
    );
    expect(await redis.currentPrimaryPort()).toBe(redis.replica.port);
    // No call hung, every failure was a clear 503 problem document.
    expect(f.failures.filter((c) => c.status === -1)).toEqual([]);
    for (const c of f.failures) {
      expect(c, JSON.stringify(c)).toMatchObject({ status: 503, problem: true });
    }
    expect(f.slowestCallMs).toBeLessThan(10_000);
    // Calls succeed again within seconds of the promotion, and throughout the last seconds.
    expect(f.recoveredAfterMs).toBeLessThan(promotedAt - killedAt + 5_000);
    const tail = load.calls.filter((c) => c.start > killedAt + f.recoveredAfterMs);
    expect(tail.length).toBeGreaterThan(20);

    await expectAckedEntriesStored(stack, load.acked);
    expect(load.acked.size).toBeGreaterThan(10);
    expectNoSecretsIn(stack.logs(), [redis.password, redis.sentinelPassword]);
  });
});
