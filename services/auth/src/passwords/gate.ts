import { ProblemError } from '@journal/shared';

/**
 * Bounds the password hashes one auth process runs at once, and shares the waiting fairly
 * between client addresses, so a flood of logins from one address cannot hold the hashing pool
 * (libuv's threads) for everyone else:
 *
 * - at most `concurrency` hashes run at once (AUTH_HASH_CONCURRENCY, default: the CPUs), and
 *   one address holds at most half of them (at least one): the other half is always there
 *   for everyone else, so a flood from one address cannot make a bystander wait for a slot;
 * - the rest wait in one queue per client address; a free slot goes to the waiting address with
 *   the fewest hashes running, then the one served least recently, so a bystander waits for
 *   the next free slot, not for the whole flood;
 * - one address may have at most `perClientWaiting` calls waiting; beyond that it is answered
 *   429 rate_limited at once (its own flood, its own answer);
 * - a call that waits longer than `queueWaitMs` (AUTH_HASH_QUEUE_WAIT_MS) gives up with 503
 *   upstream_unavailable and Retry-After: the process is saturated by many addresses at once.
 *
 * Calls are counted against the rate limits before they get here.
 */
export interface HashGateOptions {
  concurrency: number;
  queueWaitMs: number;
  /** Calls one address may have waiting (default: `concurrency`). */
  perClientWaiting?: number;
  /** Hashes one address may have running (default: half of `concurrency`, at least 1). */
  perClientRunning?: number;
}

interface Waiter {
  client: string;
  start: () => void;
  timer: NodeJS.Timeout;
}

export function createHashGate(options: HashGateOptions) {
  const perClient = options.perClientWaiting ?? Math.max(1, options.concurrency);
  const perClientRunning =
    options.perClientRunning ?? Math.max(1, Math.floor(options.concurrency / 2));
  let running = 0;
  /** Hashes running per client. */
  const runningBy = new Map<string, number>();
  /** When each client with calls running or waiting last got a slot (a sequence number). */
  const lastServed = new Map<string, number>();
  let served = 0;
  /** Waiting calls per client, in arrival order. */
  const queues = new Map<string, Waiter[]>();
  let waiting = 0;

  function next(): void {
    while (running < options.concurrency && queues.size > 0) {
      let client: string | undefined;
      let queue: Waiter[] = [];
      let best: [number, number] = [Number.POSITIVE_INFINITY, 0];
      for (const [c, q] of queues) {
        if ((runningBy.get(c) ?? 0) >= perClientRunning) continue;
        const key: [number, number] = [runningBy.get(c) ?? 0, lastServed.get(c) ?? -1];
        if (key[0] < best[0] || (key[0] === best[0] && key[1] < best[1])) {
          best = key;
          client = c;
          queue = q;
        }
      }
      // Every waiting address holds its share already: the free slots stay for others.
      if (client === undefined) return;
      const waiter = queue.shift() as Waiter;
      if (queue.length === 0) queues.delete(client);
      waiting -= 1;
      clearTimeout(waiter.timer);
      take(client);
      waiter.start();
    }
  }

  /** Whether some waiting address could take a free slot now (it goes first). */
  function hasEligibleWaiter(): boolean {
    if (waiting === 0) return false;
    for (const c of queues.keys()) if ((runningBy.get(c) ?? 0) < perClientRunning) return true;
    return false;
  }

  function take(client: string): void {
    served += 1;
    lastServed.set(client, served);
    running += 1;
    runningBy.set(client, (runningBy.get(client) ?? 0) + 1);
  }

  function release(client: string): void {
    running -= 1;
    const n = (runningBy.get(client) ?? 1) - 1;
    if (n > 0) runningBy.set(client, n);
    else {
      runningBy.delete(client);
      if (!queues.has(client)) lastServed.delete(client);
    }
  }

  function remove(waiter: Waiter): void {
    const queue = queues.get(waiter.client);
    if (!queue) return;
    const i = queue.indexOf(waiter);
    if (i === -1) return;
    queue.splice(i, 1);
    waiting -= 1;
    if (queue.length === 0) {
      queues.delete(waiter.client);
      if (!runningBy.has(waiter.client)) lastServed.delete(waiter.client);
    }
  }

  async function acquire(client: string): Promise<void> {
    if (
      running < options.concurrency &&
      (runningBy.get(client) ?? 0) < perClientRunning &&
      !queues.has(client) &&
      !hasEligibleWaiter()
    ) {
      take(client);
      return;
    }
    const queue = queues.get(client) ?? [];
    if (queue.length >= perClient) {
      throw new ProblemError('rate_limited', 'too many logins in progress from this address', {
        headers: { 'retry-after': '1' },
      });
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        client,
        start: resolve,
        timer: setTimeout(() => {
          remove(waiter);
          reject(
            new ProblemError('upstream_unavailable', 'the auth service is busy, try again', {
              status: 503,
              headers: { 'retry-after': '1' },
            }),
          );
        }, options.queueWaitMs),
      };
      queue.push(waiter);
      queues.set(client, queue);
      waiting += 1;
    });
  }

  return {
    /** Runs `hash` once a slot is free for `client`; throws 429/503 problems as above. */
    async run<T>(client: string, hash: () => Promise<T>): Promise<T> {
      await acquire(client);
      try {
        return await hash();
      } finally {
        release(client);
        next();
      }
    },
    stats: () => ({ running, waiting, clients: queues.size, tracked: lastServed.size }),
  };
}

export type HashGate = ReturnType<typeof createHashGate>;
