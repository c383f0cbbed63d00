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
    expect(idle.body).toEqual({ changes: [], revision: 1, hasMore: false });
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
    expect(res.body).toEqual({ changes: [], revision: 0, hasMore: false });
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
