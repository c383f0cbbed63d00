import { connectRedis, type Redis } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, testRedis } from '../../../test-support/index.js';
import { createIdempotency, idempotencyKeys, withIdempotency } from '../src/entries/idempotency.js';
import type { PushOutcome } from '../src/entries/push-reply.js';

/**
 * The Idempotency-Key claim against a real Redis, with a lease of 300 ms renewed every 100 ms
 * (10 s and 3 s in production): a push slower than its lease is still never run twice, and every
 * answer under a key is the first outcome stored.
 */
let raw: Awaited<ReturnType<typeof testRedis>>;
/** A client with this file's own key prefix, as the services' clients have theirs. */
let redis: Redis;

beforeAll(async () => {
  raw = await testRedis('sync_idem_claims');
  redis = await connectRedis(redisUrl(), {
    connectTimeoutMs: 30_000,
    options: { keyPrefix: raw.keyPrefix },
  });
});
afterAll(async () => {
  redis.disconnect();
  await raw.cleanup();
});

const outcome = (revision: number): PushOutcome => ({
  accepted: [{ id: 'a', revision }],
  conflicts: [],
  revision,
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Idempotency-Key claims outlive the push they guard', () => {
  it('a push three times slower than its lease runs once; a repeat meanwhile waits and replays it', async () => {
    const idempotency = createIdempotency(redis, {
      ttlSeconds: 60,
      maxBytes: 1024 * 1024,
      leaseMs: 300,
      renewEveryMs: 100,
    });
    let runs = 0;
    const slow = withIdempotency(idempotency, 'u1', 'slow-key', async () => {
      runs += 1;
      await sleep(1_000);
      return outcome(7);
    });
    await sleep(500); // past the lease: only the renewals keep the claim
    const repeat = withIdempotency(idempotency, 'u1', 'slow-key', async () => {
      runs += 1;
      return outcome(8);
    });
    expect(await slow).toEqual(outcome(7));
    expect(await repeat).toEqual(outcome(7));
    expect(runs).toBe(1);
  });

  it('a claim left by a process that died is free again after its lease, and the retry runs', async () => {
    const idempotency = createIdempotency(redis, {
      ttlSeconds: 60,
      maxBytes: 1024 * 1024,
      leaseMs: 300,
      renewEveryMs: 100,
    });
    const [replies] = idempotencyKeys('u2');
    // What a killed process leaves: a claim nobody renews, its lease about to end.
    await redis.hset(replies, 'dead-key', `p:dead-process:${Date.now() + 300}`);
    const started = Date.now();
    const retry = await withIdempotency(idempotency, 'u2', 'dead-key', async () => outcome(3));
    expect(retry).toEqual(outcome(3));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('when two runs of one key both finish, both answer the first outcome stored', async () => {
    const idempotency = createIdempotency(redis, {
      ttlSeconds: 60,
      maxBytes: 1024 * 1024,
      leaseMs: 200,
      // No renewal within the test: the first run loses its claim as a stalled process would.
      renewEveryMs: 60_000,
    });
    const first = withIdempotency(idempotency, 'u3', 'twice', async () => {
      await sleep(700);
      return outcome(11);
    });
    await sleep(400); // the first run's lease has ended: the second takes the key over
    const second = await withIdempotency(idempotency, 'u3', 'twice', async () => outcome(12));
    expect(second).toEqual(outcome(12));
    // The first finishes later and finds the second's record: it answers that, not its own.
    expect(await first).toEqual(outcome(12));
    const replay = await withIdempotency(idempotency, 'u3', 'twice', async () => outcome(99));
    expect(replay).toEqual(outcome(12));
  });
});
