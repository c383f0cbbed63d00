import { ProblemError, type PushReply, type Redis } from '@journal/shared';

const PENDING = 'pending';
/** A claim outlives any sane push; a process killed mid-push frees its key after this. */
const PENDING_TTL_SECONDS = 10;
/** How long a repeat waits for the first request with its key before answering 409. */
const WAIT_FOR_FIRST_MS = 5_000;
const POLL_MS = 50;

export type IdempotencyStart = { kind: 'replay'; reply: PushReply } | { kind: 'claimed' };

/**
 * Idempotency-Key for pushes, in Redis (the shared client's key prefix applies):
 * `sync:idem:<userId>:<key>` holds `pending` while the first request runs (SET NX, short TTL),
 * then its reply for `ttlSeconds`. A repeat replays the reply; a repeat that arrives while the
 * first is still running waits up to 5 s for it, then answers 409 `conflict` (retry later).
 */
export function createIdempotency(redis: Redis, ttlSeconds: number) {
  const keyOf = (userId: string, key: string) => `sync:idem:${userId}:${key}`;

  return {
    async start(userId: string, key: string): Promise<IdempotencyStart> {
      const redisKey = keyOf(userId, key);
      const deadline = Date.now() + WAIT_FOR_FIRST_MS;
      for (;;) {
        const claimed = await redis.set(redisKey, PENDING, 'EX', PENDING_TTL_SECONDS, 'NX');
        if (claimed === 'OK') return { kind: 'claimed' };
        const value = await redis.get(redisKey);
        if (value !== null && value !== PENDING) {
          return { kind: 'replay', reply: JSON.parse(value) as PushReply };
        }
        if (Date.now() >= deadline) {
          throw new ProblemError(
            'conflict',
            'a push with this Idempotency-Key is still being processed; retry shortly',
            { headers: { 'retry-after': '1' } },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    },

    async finish(userId: string, key: string, reply: PushReply): Promise<void> {
      await redis.set(keyOf(userId, key), JSON.stringify(reply), 'EX', ttlSeconds);
    },

    /** The first request failed: let a retry run instead of waiting for the claim to expire. */
    async abandon(userId: string, key: string): Promise<void> {
      await redis.del(keyOf(userId, key)).catch(() => {});
    },
  };
}

export type Idempotency = ReturnType<typeof createIdempotency>;

/**
 * Runs `run` (a push) at most once per `(userId, key)`: without a key it simply runs; a repeat
 * gets the first reply again; a failure frees the key so a retry runs afresh. A reply that could
 * not be stored is still answered (the push is applied; a retry is accepted as identical).
 */
export async function withIdempotency(
  idempotency: Idempotency,
  userId: string,
  key: string | undefined,
  run: () => Promise<PushReply>,
): Promise<PushReply> {
  if (key === undefined) return run();
  const start = await idempotency.start(userId, key);
  if (start.kind === 'replay') return start.reply;
  let reply: PushReply;
  try {
    reply = await run();
  } catch (err) {
    await idempotency.abandon(userId, key);
    throw err;
  }
  try {
    await idempotency.finish(userId, key, reply);
  } catch {
    // The push is applied; only the copy kept for replays is lost (Redis failing over). Answer
    // it, and free the key if Redis lets us: a retry then runs again and is accepted as
    // identical, with the same revisions, instead of waiting out the claim.
    await idempotency.abandon(userId, key);
  }
  return reply;
}
