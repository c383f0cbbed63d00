import { ProblemError } from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { createHashGate } from '../../src/passwords/gate.js';

/** A "hash" that finishes when the test says so. */
function pending() {
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => {
    finish = r;
  });
  return { done, finish: () => finish() };
}

const tick = () => new Promise((r) => setImmediate(r));

async function problemOf(p: Promise<unknown>): Promise<ProblemError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ProblemError)) throw new Error(`expected a problem, got ${String(err)}`);
  return err;
}

describe('hash gate', () => {
  it('runs at most `concurrency` hashes at once', async () => {
    const gate = createHashGate({ concurrency: 2, queueWaitMs: 5_000, perClientWaiting: 100 });
    let running = 0;
    let peak = 0;
    const work = async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => gate.run(`c${i % 3}`, work)));
    expect(peak).toBe(2);
    expect(gate.stats()).toEqual({ running: 0, waiting: 0, clients: 0, tracked: 0 });
  });

  it('gives a free slot to the address served least recently: a bystander waits for one slot, not the flood', async () => {
    const gate = createHashGate({ concurrency: 1, queueWaitMs: 5_000, perClientWaiting: 10 });
    const order: string[] = [];
    const hashes = Array.from({ length: 12 }, () => pending());
    const run = (client: string, i: number) =>
      gate.run(client, async () => {
        order.push(`${client}${i}`);
        await (hashes[i] as ReturnType<typeof pending>).done;
      });
    const flood = Array.from({ length: 8 }, (_, i) => run('a', i));
    await tick();
    const bystander = run('b', 8);
    await tick();
    expect(order).toEqual(['a0']);
    hashes[0]?.finish();
    await tick();
    // The bystander goes next, ahead of a1..a7 that came before it.
    expect(order).toEqual(['a0', 'b8']);
    hashes[8]?.finish();
    await bystander;
    for (const h of hashes) h.finish();
    await Promise.all(flood);
    expect(order).toHaveLength(9);
  });

  it('lets one address hold at most half the slots: a bystander starts at once', async () => {
    const gate = createHashGate({ concurrency: 2, queueWaitMs: 5_000, perClientWaiting: 50 });
    const slot = pending();
    let started = 0;
    const flood = Array.from({ length: 10 }, () =>
      gate.run('a', async () => {
        started += 1;
        await slot.done;
      }),
    );
    await tick();
    expect(started).toBe(1);
    expect(gate.stats()).toMatchObject({ running: 1, waiting: 9 });
    // The free slot is the bystander's, though 'a' has nine calls waiting.
    expect(await gate.run('b', async () => 'b')).toBe('b');
    slot.finish();
    await Promise.all(flood);
    expect(started).toBe(10);
  });

  it('answers 429 at once when one address has too many calls waiting', async () => {
    const gate = createHashGate({ concurrency: 1, queueWaitMs: 5_000, perClientWaiting: 2 });
    const slot = pending();
    const first = gate.run('a', () => slot.done);
    const waiting = [gate.run('a', async () => {}), gate.run('a', async () => {})];
    const refused = await problemOf(gate.run('a', async () => {}));
    expect(refused.code).toBe('rate_limited');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    // Another address still gets a place in the queue.
    const other = gate.run('b', async () => 'b');
    slot.finish();
    await Promise.all([first, ...waiting]);
    expect(await other).toBe('b');
  });

  it('gives up with 503 and Retry-After after the queue wait', async () => {
    const gate = createHashGate({ concurrency: 1, queueWaitMs: 30 });
    const slot = pending();
    const first = gate.run('a', () => slot.done);
    const problem = await problemOf(gate.run('b', async () => {}));
    expect(problem.statusCode).toBe(503);
    expect(problem.code).toBe('upstream_unavailable');
    expect(problem.headers['retry-after']).toBe('1');
    expect(gate.stats()).toMatchObject({ running: 1, waiting: 0, clients: 0 });
    slot.finish();
    await first;
    // A failed hash releases its slot too.
    await expect(
      gate.run('c', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await gate.run('c', async () => 'ok')).toBe('ok');
  });
});
