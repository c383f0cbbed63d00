import { createRedis } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { type Harness, newUserId, pull, push, syncHarness } from './helpers.js';

let h: Harness;
let replicaA: SyncApp;
let replicaB: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_longpoll');
  replicaA = await h.build();
  replicaB = await h.build();
});
afterAll(() => h.close());

async function waitUntil(check: () => boolean, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('long-poll', () => {
  it('a push on one replica wakes a long-poll waiting on another', async () => {
    const token = await h.token(newUserId());
    const started = Date.now();
    const waiting = pull(replicaB, token, 'since=0&wait=20');
    await waitUntil(() => replicaB.sync.notifier.waiting() === 1);
    const pushed = await push(replicaA, token, [
      { id: 'wake', baseRevision: 0, content: { hi: 1 } },
    ]);
    expect(pushed.body.accepted).toHaveLength(1);
    const woke = await waiting;
    expect(woke.res.statusCode).toBe(200);
    expect(woke.body.changes.map((e) => e.id)).toEqual(['wake']);
    expect(woke.body.revision).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(replicaB.sync.notifier.waiting()).toBe(0);
  });

  it('answers at once when there is something new, and ends an idle wait at its deadline', async () => {
    const token = await h.token(newUserId());
    await push(replicaA, token, [{ id: 'x', baseRevision: 0, content: {} }]);
    const t0 = Date.now();
    expect((await pull(replicaB, token, 'since=0&wait=30')).body.changes).toHaveLength(1);
    // At once: far below the 30 s wait, with room for a slow store.
    expect(Date.now() - t0).toBeLessThan(5_000);
    const t1 = Date.now();
    const idle = await pull(replicaB, token, 'since=1&wait=1');
    expect(idle.body).toEqual({
      changes: [],
      revision: 1,
      hasMore: false,
      generation: expect.any(String),
    });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(950);
  });

  it("publishes a wake-up on the user's own channel only, and only when a push applied something", async () => {
    const userId = newUserId();
    const token = await h.token(userId);
    const otherId = newUserId();
    const other = await h.token(otherId);
    const listener = h.rawRedis.duplicate({ enableOfflineQueue: true });
    const heard: string[] = [];
    listener.on('pmessage', (_p: string, channel: string, message: string) =>
      heard.push(`${channel.slice(h.keyPrefix.length)}=${message}`),
    );
    await listener.psubscribe(`${h.keyPrefix}sync:user:*`);
    try {
      await push(replicaA, token, [{ id: 'same', baseRevision: 0, content: { v: 1 } }]);
      await push(replicaA, other, [{ id: 'o', baseRevision: 0, content: {} }]);
      await push(replicaA, token, [{ id: 'same', baseRevision: 0, content: { v: 1 } }]); // identical
      await push(replicaA, token, [{ id: 'same', baseRevision: 0, content: { v: 2 } }]); // conflict
      await push(replicaA, token, [{ id: 'same', baseRevision: 1, deleted: true }]);
      await waitUntil(() => heard.length >= 3);
      await new Promise((r) => setTimeout(r, 100));
      expect(heard).toEqual([
        `sync:user:${userId}=1`,
        `sync:user:${otherId}=1`,
        `sync:user:${userId}=2`,
      ]);
    } finally {
      listener.disconnect();
    }
  });

  it('answers waiting pulls with what is there when the app shuts down', async () => {
    const app = await h.build();
    const token = await h.token(newUserId());
    const t0 = Date.now();
    const waiting = pull(app, token, 'since=0&wait=30');
    await waitUntil(() => app.sync.notifier.waiting() === 1);
    await app.close();
    const res = await waiting;
    expect(res.res.statusCode).toBe(200);
    expect(res.body).toEqual({
      changes: [],
      revision: 0,
      hasMore: false,
      generation: expect.any(String),
    });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('still ends a wait at its deadline, and pushes still apply, while Redis is unreachable', async () => {
    // A replica whose Redis is a closed port: no subscriber, no publish, no idempotency.
    const deadRedis = createRedis('redis://127.0.0.1:1', { options: { keyPrefix: h.keyPrefix } });
    try {
      const app = await h.build({}, { redis: deadRedis }, { subscribed: false });
      const token = await h.token(newUserId());
      const t0 = Date.now();
      const res = await pull(app, token, 'since=0&wait=1');
      expect(res.res.statusCode).toBe(200);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
      expect(Date.now() - t0).toBeLessThan(3_000);
      const pushed = await push(app, token, [{ id: 'r', baseRevision: 0, content: {} }]);
      expect(pushed.body.accepted).toEqual([{ id: 'r', revision: 1 }]);
      const keyed = await push(app, token, [{ id: 'q', baseRevision: 0, content: {} }], {
        headers: { 'idempotency-key': 'k1' },
      });
      expect(keyed.res.statusCode).toBe(503);
      expect(keyed.res.json()).toMatchObject({ code: 'upstream_unavailable' });
      await app.close();
    } finally {
      deadRedis.disconnect();
    }
  });
});

/** The value of sync_long_polls_answered_early_total{reason} in `app`'s registry. */
async function answeredEarly(
  app: SyncApp,
  reason: 'per_user' | 'per_process' | 'any',
): Promise<number> {
  if (reason === 'any')
    return (await answeredEarly(app, 'per_user')) + (await answeredEarly(app, 'per_process'));
  const text = await app.metrics.metrics();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('sync_long_polls_answered_early_total{') && l.includes(`reason="${reason}"`),
    );
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

describe('long-polls bounded per user and per process', () => {
  type Reply = Awaited<ReturnType<typeof pull>>;

  /**
   * Opens long-polls on `app` one after the other, each in place before the next opens (so
   * "oldest" is well defined), and records the replies as they come. A pull is in place once
   * the process's held long-polls plus those it let go have grown by one (both change in the
   * same step); the reply of one let go comes a moment later (tests poll for it).
   */
  function opener(app: SyncApp) {
    const replies = new Map<string, Reply>();
    const placed = async () => app.sync.notifier.held() + (await answeredEarly(app, 'any'));
    return {
      replies,
      async open(token: string, names: string[], query = 'since=0&wait=25') {
        for (const name of names) {
          const before = await placed();
          void pull(app, token, query).then((r) => replies.set(name, r));
          await expect.poll(placed).toBe(before + 1);
        }
      },
      answered: () => [...replies.keys()].sort(),
    };
  }

  const EMPTY = { changes: [], revision: 0, hasMore: false, generation: expect.any(String) };

  it("answers a user's oldest long-polls early and empty, keeps the newest (woken by a push), and leaves another user's alone", async () => {
    const app = await h.build({ SYNC_LONG_POLL_MAX_PER_USER: '3' });
    const alice = await h.token(newUserId('alice'));
    const bob = await h.token(newUserId('bob'));
    const o = opener(app);
    try {
      // Bob first: his long-polls are the oldest in the process.
      await o.open(bob, ['b1', 'b2']);
      await o.open(alice, ['a1', 'a2', 'a3', 'a4', 'a5']);
      // Alice's two oldest answered at once, each with the page a timed-out wait gives.
      await expect.poll(() => o.answered()).toEqual(['a1', 'a2']);
      for (const name of ['a1', 'a2']) {
        expect(o.replies.get(name)?.res.statusCode).toBe(200);
        expect(o.replies.get(name)?.body).toEqual(EMPTY);
      }
      await expect.poll(() => app.sync.notifier.waiting()).toBe(5);
      expect(await answeredEarly(app, 'per_user')).toBe(2);
      expect(await answeredEarly(app, 'per_process')).toBe(0);

      // A push wakes Alice's three held ones with the change; Bob's still wait.
      const pushed = await push(replicaA, alice, [{ id: 'a', baseRevision: 0, content: {} }]);
      expect(pushed.body.accepted).toHaveLength(1);
      await expect.poll(() => o.answered()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
      for (const name of ['a3', 'a4', 'a5']) {
        expect(o.replies.get(name)?.body.changes.map((e) => e.id)).toEqual(['a']);
      }
      await expect.poll(() => app.sync.notifier.waiting()).toBe(2);
      await push(replicaA, bob, [{ id: 'b', baseRevision: 0, content: {} }]);
      await expect.poll(() => o.replies.size).toBe(7);
      for (const name of ['b1', 'b2']) {
        expect(o.replies.get(name)?.body.changes.map((e) => e.id)).toEqual(['b']);
      }
      expect(await answeredEarly(app, 'per_user')).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('over the process bound, lets go the oldest of the user holding the most, never a smaller holder', async () => {
    const app = await h.build({
      SYNC_LONG_POLL_MAX_PER_USER: '10',
      SYNC_LONG_POLL_MAX_PER_PROCESS: '4',
    });
    const alice = await h.token(newUserId('alice'));
    const bob = await h.token(newUserId('bob'));
    const carol = await h.token(newUserId('carol'));
    const o = opener(app);
    try {
      await o.open(bob, ['b1']);
      await o.open(alice, ['a1', 'a2', 'a3']);
      expect(o.answered()).toEqual([]);
      // The process is full: Carol's pull pushes out Alice's oldest, not Bob's older one.
      await o.open(carol, ['c1']);
      await expect.poll(() => o.answered()).toEqual(['a1']);
      expect(o.replies.get('a1')?.body).toEqual(EMPTY);
      // Alice again: her own oldest goes.
      await o.open(alice, ['a4']);
      await expect.poll(() => o.answered()).toEqual(['a1', 'a2']);
      await expect.poll(() => app.sync.notifier.waiting()).toBe(4);
      expect(await answeredEarly(app, 'per_process')).toBe(2);
      expect(await answeredEarly(app, 'per_user')).toBe(0);
      // Those still held are woken by their user's push as usual.
      await push(replicaA, carol, [{ id: 'c', baseRevision: 0, content: {} }]);
      await expect.poll(() => o.replies.get('c1')?.body.changes.map((e) => e.id)).toEqual(['c']);
    } finally {
      await app.close();
    }
  });

  it('holds as many as a user with many devices opens, by default', async () => {
    const app = await h.build();
    const token = await h.token(newUserId());
    const o = opener(app);
    try {
      await o.open(
        token,
        Array.from({ length: 20 }, (_, i) => `d${i}`),
        'since=0&wait=20',
      );
      await expect.poll(() => app.sync.notifier.waiting()).toBe(20);
      expect(o.answered()).toEqual([]);
      expect(await answeredEarly(app, 'per_user')).toBe(0);
    } finally {
      await app.close();
    }
  });
});
