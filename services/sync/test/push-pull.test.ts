import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { type Harness, newUserId, pull, pullAll, push, syncHarness } from './helpers.js';

let h: Harness;
let app: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_push_pull');
  app = await h.build();
});
afterAll(() => h.close());

async function user() {
  const userId = newUserId();
  return { userId, token: await h.token(userId) };
}

describe('push and pull', () => {
  it('pushes new entries and pulls them back in revision order with every field', async () => {
    const { token } = await user();
    const { res, body } = await push(
      app,
      token,
      [
        {
          id: 'e1',
          baseRevision: 0,
          content: { title: 'first', tags: ['a'], nested: { deep: [1, { x: null }] } },
          clientUpdatedAt: '2026-01-01T10:00:00+02:00',
        },
        { id: 'e2', baseRevision: 0, content: { title: 'second' } },
      ],
      { deviceId: 'phone-1' },
    );
    expect(res.statusCode, res.body).toBe(200);
    expect(body).toEqual({
      accepted: [
        { id: 'e1', revision: 1 },
        { id: 'e2', revision: 2 },
      ],
      conflicts: [],
      revision: 2,
    });
    const all = await pull(app, token, 'since=0');
    expect(all.res.statusCode).toBe(200);
    expect(all.body.revision).toBe(2);
    expect(all.body.hasMore).toBe(false);
    const [e1, e2] = all.body.changes;
    expect(e1).toEqual({
      id: 'e1',
      revision: 1,
      deleted: false,
      content: { title: 'first', tags: ['a'], nested: { deep: [1, { x: null }] } },
      clientUpdatedAt: '2026-01-01T08:00:00.000Z',
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      deviceId: 'phone-1',
    });
    expect(e2).toMatchObject({ id: 'e2', revision: 2, clientUpdatedAt: null });
    const none = await pull(app, token, 'since=2');
    expect(none.body).toEqual({
      changes: [],
      revision: 2,
      hasMore: false,
      generation: expect.any(String),
    });
  });

  it('edits move an entry to a new revision and pulls return only its current version', async () => {
    const { token } = await user();
    await push(app, token, [
      { id: 'a', baseRevision: 0, content: { v: 1 } },
      { id: 'b', baseRevision: 0, content: { v: 1 } },
    ]);
    const edit = await push(app, token, [{ id: 'a', baseRevision: 1, content: { v: 2 } }]);
    expect(edit.body.accepted).toEqual([{ id: 'a', revision: 3 }]);
    const all = await pull(app, token, 'since=0');
    expect(all.body.changes.map((e) => [e.id, e.revision, e.content])).toEqual([
      ['b', 2, { v: 1 }],
      ['a', 3, { v: 2 }],
    ]);
    const after1 = await pull(app, token, 'since=1');
    expect(after1.body.changes.map((e) => e.id)).toEqual(['b', 'a']);
  });

  it('pages strictly after the cursor on a unique sequence: no duplicates across pages', async () => {
    const { token } = await user();
    const changes = Array.from({ length: 23 }, (_, i) => ({
      id: `p${i}`,
      baseRevision: 0,
      content: { i },
    }));
    expect((await push(app, token, changes)).body.accepted).toHaveLength(23);
    const pages: number[][] = [];
    let since = 0;
    for (;;) {
      const page = await pull(app, token, `since=${since}&limit=5`);
      pages.push(page.body.changes.map((e) => e.revision));
      expect(page.body.revision).toBe(page.body.changes.at(-1)?.revision ?? since);
      since = page.body.revision;
      if (!page.body.hasMore) break;
    }
    expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
    const flat = pages.flat();
    expect(flat).toEqual(Array.from({ length: 23 }, (_, i) => i + 1));
    // Exactly `limit` left: hasMore is false, not a spurious extra round.
    const exact = await pull(app, token, 'since=18&limit=5');
    expect(exact.body.hasMore).toBe(false);
    expect(exact.body.changes).toHaveLength(5);
  });

  it('ends a page early when its content passes 8 MiB, and the cursor carries on from there', async () => {
    const { token } = await user();
    const big = (i: number) => ({ i, body: 'x'.repeat(900 * 1024) });
    await push(
      app,
      token,
      Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, baseRevision: 0, content: big(i) })),
    );
    await push(
      app,
      token,
      Array.from({ length: 6 }, (_, i) => ({
        id: `b${i + 6}`,
        baseRevision: 0,
        content: big(i + 6),
      })),
    );
    const first = await pull(app, token, 'since=0&limit=1000');
    expect(first.body.hasMore).toBe(true);
    expect(first.body.changes.length).toBeGreaterThan(0);
    expect(first.body.changes.length).toBeLessThan(12);
    const rest = await pullAll(app, token, first.body.revision);
    expect([...first.body.changes, ...rest.entries].map((e) => e.id)).toEqual(
      Array.from({ length: 12 }, (_, i) => `b${i}`),
    );
  });

  it('reports a stale baseRevision as a conflict with the server entry and overwrites nothing', async () => {
    const { token } = await user();
    await push(app, token, [{ id: 'c', baseRevision: 0, content: { v: 1 } }]);
    await push(app, token, [{ id: 'c', baseRevision: 1, content: { v: 2 } }]);
    const stale = await push(app, token, [
      { id: 'c', baseRevision: 1, content: { v: 3 } },
      { id: 'new', baseRevision: 0, content: { ok: true } },
      { id: 'missing', baseRevision: 7, content: { v: 1 } },
    ]);
    expect(stale.res.statusCode).toBe(200);
    expect(stale.body.accepted).toEqual([{ id: 'new', revision: 3 }]);
    expect(stale.body.conflicts).toEqual([
      {
        id: 'c',
        reason: 'revision_mismatch',
        current: expect.objectContaining({ id: 'c', revision: 2, content: { v: 2 } }),
      },
      { id: 'missing', reason: 'revision_mismatch', current: null },
    ]);
    const recreate = await push(app, token, [{ id: 'c', baseRevision: 0, content: { v: 9 } }]);
    expect(recreate.body.conflicts[0]?.current?.content).toEqual({ v: 2 });
    const all = await pull(app, token);
    expect(all.body.changes.find((e) => e.id === 'c')?.content).toEqual({ v: 2 });
  });

  it('decides conflicts by baseRevision only: a different clientUpdatedAt is not a conflict', async () => {
    const { token } = await user();
    await push(app, token, [
      { id: 'k', baseRevision: 0, content: { t: 'x' }, clientUpdatedAt: '2030-01-01T00:00:00Z' },
    ]);
    // An older client clock with the right base still wins; a newer clock with a stale base loses.
    const older = await push(app, token, [
      { id: 'k', baseRevision: 1, content: { t: 'y' }, clientUpdatedAt: '2001-01-01T00:00:00Z' },
    ]);
    expect(older.body.accepted).toEqual([{ id: 'k', revision: 2 }]);
    const newer = await push(app, token, [
      { id: 'k', baseRevision: 1, content: { t: 'z' }, clientUpdatedAt: '2099-01-01T00:00:00Z' },
    ]);
    expect(newer.body.conflicts.map((c) => c.id)).toEqual(['k']);
    // Same content, another clientUpdatedAt, stale base: identical, accepted, no new revision.
    const same = await push(app, token, [
      { id: 'k', baseRevision: 0, content: { t: 'y' }, clientUpdatedAt: '2050-01-01T00:00:00Z' },
    ]);
    expect(same.body).toEqual({ accepted: [{ id: 'k', revision: 2 }], conflicts: [], revision: 2 });
    expect((await pull(app, token, 'since=2')).body.changes).toEqual([]);
  });

  it('accepts a change identical to the current state without a new revision (key order ignored)', async () => {
    const { token } = await user();
    await push(app, token, [{ id: 's', baseRevision: 0, content: { a: 1, b: [1, 2] } }]);
    const again = await push(app, token, [
      { id: 's', baseRevision: 0, content: { b: [1, 2], a: 1 } },
    ]);
    expect(again.body).toEqual({
      accepted: [{ id: 's', revision: 1 }],
      conflicts: [],
      revision: 1,
    });
    expect((await pull(app, token)).body.changes).toHaveLength(1);
  });

  it('propagates deletes end to end: device A deletes, device B pulls the tombstone', async () => {
    const { token } = await user();
    await push(app, token, [{ id: 'd', baseRevision: 0, content: { x: 1 } }], { deviceId: 'A' });
    const deviceB = await pullAll(app, token);
    expect(deviceB.entries.map((e) => e.id)).toEqual(['d']);
    const del = await push(app, token, [{ id: 'd', baseRevision: 1, deleted: true }], {
      deviceId: 'A',
    });
    expect(del.body.accepted).toEqual([{ id: 'd', revision: 2 }]);
    const next = await pullAll(app, token, deviceB.cursor);
    expect(next.entries).toEqual([
      expect.objectContaining({
        id: 'd',
        revision: 2,
        deleted: true,
        content: null,
        deviceId: 'A',
      }),
    ]);
    // Deleting again is identical to the tombstone: accepted, nothing new.
    const again = await push(app, token, [
      { id: 'd', baseRevision: 1, deleted: true, content: null },
    ]);
    expect(again.body.accepted).toEqual([{ id: 'd', revision: 2 }]);
    // A fresh device sees only the tombstone; an edit on top of it brings the entry back.
    expect((await pullAll(app, token)).entries.map((e) => [e.id, e.deleted])).toEqual([
      ['d', true],
    ]);
    const revive = await push(app, token, [{ id: 'd', baseRevision: 2, content: { x: 2 } }]);
    expect(revive.body.accepted).toEqual([{ id: 'd', revision: 3 }]);
  });

  it('replays the first reply for a repeated Idempotency-Key, per user, without applying twice', async () => {
    const alice = await user();
    const bob = await user();
    const headers = { 'idempotency-key': 'same-key-1' };
    const first = await push(app, alice.token, [{ id: 'i', baseRevision: 0, content: { n: 1 } }], {
      headers,
    });
    expect(first.body.accepted).toEqual([{ id: 'i', revision: 1 }]);
    // Another change under the same key: the first reply, nothing applied.
    const second = await push(app, alice.token, [{ id: 'j', baseRevision: 0, content: { n: 2 } }], {
      headers,
    });
    expect(second.res.statusCode).toBe(200);
    expect(second.body).toEqual(first.body);
    expect((await pull(app, alice.token)).body.changes.map((e) => e.id)).toEqual(['i']);
    // The same key from another user is that user's own.
    const other = await push(app, bob.token, [{ id: 'j', baseRevision: 0, content: {} }], {
      headers,
    });
    expect(other.body.accepted).toEqual([{ id: 'j', revision: 1 }]);
  });

  it('makes a concurrent repeat of an Idempotency-Key wait for the first and replay it', async () => {
    const { token } = await user();
    const headers = { 'idempotency-key': 'concurrent-key' };
    const changes = Array.from({ length: 50 }, (_, i) => ({
      id: `x${i}`,
      baseRevision: 0,
      content: { i },
    }));
    const [a, b, c] = await Promise.all([
      push(app, token, changes, { headers }),
      push(app, token, changes, { headers }),
      push(app, token, changes, { headers }),
    ]);
    expect(a.res.statusCode).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(c.body).toEqual(a.body);
    expect((await pullAll(app, token)).entries).toHaveLength(50);
  });

  it('answers 409 while a push with the same key is still in progress beyond the wait', async () => {
    const { userId, token } = await user();
    // A claim held by another request, its lease 30 s away (idempotency.ts's layout).
    await h.redis.hset(
      `sync:idem:{${userId}}:replies`,
      'stuck-key',
      `p:other-request:${Date.now() + 30_000}`,
    );
    const started = Date.now();
    const { res } = await push(app, token, [{ id: 'z', baseRevision: 0, content: {} }], {
      headers: { 'idempotency-key': 'stuck-key' },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'conflict' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000);
    expect((await pull(app, token)).body.changes).toEqual([]);
  });

  it('counts pushes, applied changes and conflicts in its metrics registry', async () => {
    const { token } = await user();
    await push(app, token, [{ id: 'm', baseRevision: 0, content: {} }]);
    await push(app, token, [{ id: 'm', baseRevision: 0, content: { other: 1 } }]);
    const text = await app.metrics.metrics();
    expect(text).toMatch(/sync_pushes_total\{service="sync"\} \d+/);
    expect(text).toMatch(/sync_changes_applied_total\{service="sync"\} [1-9]/);
    expect(text).toMatch(/sync_conflicts_total\{service="sync"\} [1-9]/);
  });
});
