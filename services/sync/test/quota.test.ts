import { createRedis, quotaKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { bearer, type Harness, newUserId, pullAll, push, syncHarness } from './helpers.js';

let h: Harness;
/** No quotas: writes a user up to any state. */
let open: SyncApp;
/** entries 5, entryBytes 400. */
let small: SyncApp;

const LIMITS = { QUOTA_ENTRIES: '5', QUOTA_ENTRY_BYTES: '400' };

beforeAll(async () => {
  h = await syncHarness('sync_quota');
  open = await h.build({ QUOTA_ENTRIES: '0', QUOTA_ENTRY_BYTES: '0' });
  small = await h.build(LIMITS);
}, 60_000);
afterAll(() => h.close());

async function user() {
  const userId = newUserId('quota');
  return { userId, token: await h.token(userId) };
}

async function usage(app: SyncApp, token: string) {
  const res = await app.inject({ method: 'GET', url: '/sync/usage', headers: bearer(token) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Record<'entries' | 'entryBytes', { usage: number; limit: number | null }>;
}

/** What the store holds for the user, computed here from a full pull. */
async function stored(token: string) {
  const { entries } = await pullAll(open, token);
  const live = entries.filter((e) => !e.deleted);
  return {
    entries: live.length,
    entryBytes: live.reduce((sum, e) => sum + JSON.stringify(e.content).length, 0),
    ids: live.map((e) => e.id).sort(),
  };
}

const create = (id: string, text = 'x') => ({ id, baseRevision: 0, content: { text } });

describe('entries quotas', () => {
  it('refuses a push that would go over the entries quota with 403 quota_exceeded naming limit and usage, storing nothing of it', async () => {
    const { token } = await user();
    const first = await push(
      small,
      token,
      [1, 2, 3, 4].map((i) => create(`e${i}`)),
    );
    expect(first.res.statusCode, first.res.body).toBe(200);
    expect(await usage(small, token)).toEqual({
      entries: { usage: 4, limit: 5 },
      entryBytes: { usage: 4 * JSON.stringify({ text: 'x' }).length, limit: 400 },
    });

    const over = await push(small, token, [create('e5'), create('e6')]);
    expect(over.res.statusCode, over.res.body).toBe(403);
    expect(over.res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(over.res.json()).toMatchObject({
      status: 403,
      code: 'quota_exceeded',
      quota: 'entries',
      limit: 5,
      usage: 4,
      requested: 2,
    });
    expect((await stored(token)).ids).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect((await usage(small, token)).entries.usage).toBe(4);

    // One more fits exactly.
    const fits = await push(small, token, [create('e5')]);
    expect(fits.res.statusCode, fits.res.body).toBe(200);
    expect((await usage(small, token)).entries).toEqual({ usage: 5, limit: 5 });
  });

  it('accepts a retried push of entries that exist already (identical) at the limit, instead of refusing it', async () => {
    const { token } = await user();
    const made = await push(
      small,
      token,
      [1, 2, 3, 4, 5].map((i) => create(`i${i}`)),
    );
    expect(made.res.statusCode).toBe(200);
    // The reply was lost; the device sends the same creates again (no Idempotency-Key).
    const again = await push(small, token, [create('i4'), create('i5')]);
    expect(again.res.statusCode, again.res.body).toBe(200);
    expect(again.body.accepted).toEqual(made.body.accepted.slice(3));
    // A create of a new id in the same push is still refused.
    const mixed = await push(small, token, [create('i5'), create('i6')]);
    expect(mixed.res.statusCode).toBe(403);
    expect(mixed.res.json()).toMatchObject({ quota: 'entries', usage: 5, requested: 1 });
    expect((await usage(small, token)).entries.usage).toBe(5);
  });

  it('frees usage on delete, and a push that deletes one and creates one at the limit is accepted', async () => {
    const { token } = await user();
    const made = await push(
      small,
      token,
      [1, 2, 3, 4, 5].map((i) => create(`d${i}`)),
    );
    expect(made.res.statusCode).toBe(200);
    const rev = (id: string) => made.body.accepted.find((a) => a.id === id)?.revision as number;

    expect((await push(small, token, [create('d6')])).res.statusCode).toBe(403);
    const swap = await push(small, token, [
      { id: 'd1', baseRevision: rev('d1'), deleted: true },
      create('d6'),
    ]);
    expect(swap.res.statusCode, swap.res.body).toBe(200);
    expect(swap.body.accepted).toHaveLength(2);
    expect((await usage(small, token)).entries.usage).toBe(5);

    const del = await push(small, token, [{ id: 'd2', baseRevision: rev('d2'), deleted: true }]);
    expect(del.res.statusCode).toBe(200);
    expect((await usage(small, token)).entries.usage).toBe(4);
    expect((await push(small, token, [create('d7')])).res.statusCode).toBe(200);
    const s = await stored(token);
    expect(s.ids).toEqual(['d3', 'd4', 'd5', 'd6', 'd7']);
    expect((await usage(small, token)).entryBytes.usage).toBe(s.entryBytes);
  });

  it('refuses growth past the entryBytes quota, and an account over its quotas can still shrink and delete', async () => {
    const { token } = await user();
    // Written without quotas: 6 entries of ~110 bytes, over both quotas of `small`.
    const big = 'b'.repeat(100);
    const made = await push(
      open,
      token,
      [1, 2, 3, 4, 5, 6].map((i) => create(`b${i}`, big)),
    );
    expect(made.res.statusCode).toBe(200);
    const rev = (id: string) => made.body.accepted.find((a) => a.id === id)?.revision as number;
    const before = await stored(token);
    expect(before.entryBytes).toBeGreaterThan(400);

    // Growing an entry: refused on bytes, nothing changes.
    const grow = await push(small, token, [
      { id: 'b1', baseRevision: rev('b1'), content: { text: `${big}more` } },
    ]);
    expect(grow.res.statusCode, grow.res.body).toBe(403);
    expect(grow.res.json()).toMatchObject({
      code: 'quota_exceeded',
      quota: 'entryBytes',
      limit: 400,
      usage: before.entryBytes,
      requested: 4,
    });
    // Shrinking and deleting are accepted although still over.
    const shrink = await push(small, token, [
      { id: 'b1', baseRevision: rev('b1'), content: { text: 's' } },
    ]);
    expect(shrink.res.statusCode, shrink.res.body).toBe(200);
    const del = await push(small, token, [{ id: 'b2', baseRevision: rev('b2'), deleted: true }]);
    expect(del.res.statusCode, del.res.body).toBe(200);
    const after = await stored(token);
    expect(after.ids).toEqual(['b1', 'b3', 'b4', 'b5', 'b6']);
    expect(await usage(small, token)).toEqual({
      entries: { usage: after.entries, limit: 5 },
      entryBytes: { usage: after.entryBytes, limit: 400 },
    });
  });

  it('rebuilds a counter lost from Redis exactly from the store, and keeps counting from there', async () => {
    const { userId, token } = await user();
    const made = await push(small, token, [create('r1', 'abc'), create('r2', 'de'), create('r3')]);
    const rev = (id: string) => made.body.accepted.find((a) => a.id === id)?.revision as number;
    await push(small, token, [
      { id: 'r2', baseRevision: rev('r2'), deleted: true },
      { id: 'r3', baseRevision: rev('r3'), content: { text: 'longer text' } },
    ]);
    const expected = await stored(token);
    const key = quotaKey(userId, 'entries');
    expect(await h.redis.exists(key)).toBe(1);
    expect(await h.redis.del(key)).toBe(1);
    expect(await usage(small, token)).toEqual({
      entries: { usage: expected.entries, limit: 5 },
      entryBytes: { usage: expected.entryBytes, limit: 400 },
    });
    // Lost again, then a push is the first to notice: recounted, then reserved on top.
    await h.redis.del(key);
    expect((await push(small, token, [create('r4')])).res.statusCode).toBe(200);
    const now = await stored(token);
    expect(await usage(small, token)).toEqual({
      entries: { usage: now.entries, limit: 5 },
      entryBytes: { usage: now.entryBytes, limit: 400 },
    });
    expect(await h.redis.ttl(key)).toBeGreaterThan(0);
  });

  it('many concurrent pushes of one user on two replicas end within the quota, with the counter equal to what is stored', async () => {
    const other = await h.build(LIMITS);
    const { userId, token } = await user();
    // Half the pushes start with the counter missing (a shared recount per replica).
    await h.redis.del(quotaKey(userId, 'entries'));
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        push(i % 2 === 0 ? small : other, token, [create(`c${i}`, `content ${i}`)]),
      ),
    );
    const statuses = results.map((r) => r.res.statusCode);
    expect(
      statuses.every((s) => s === 200 || s === 403),
      statuses.join(),
    ).toBe(true);
    const accepted = results.filter((r) => r.res.statusCode === 200);
    const s = await stored(token);
    // Exactly the accepted pushes are stored (nothing lost, nothing refused kept) …
    expect(s.ids).toEqual(accepted.map((r) => r.body.accepted[0]?.id).sort());
    // … within the limit (the documented bound is 0 here: no write precedes a reservation) …
    expect(s.entries).toBeLessThanOrEqual(5);
    expect(s.entries).toBe(5);
    // … and the counter is what the store holds.
    expect(await usage(small, token)).toEqual({
      entries: { usage: s.entries, limit: 5 },
      entryBytes: { usage: s.entryBytes, limit: 400 },
    });
    for (const r of results.filter((r) => r.res.statusCode === 403)) {
      expect(r.res.json()).toMatchObject({ code: 'quota_exceeded', quota: 'entries', limit: 5 });
    }
  }, 60_000);

  it('checks against the store when Redis is unreachable: refuses over the limit, accepts under it, never a 5xx for that', async () => {
    const { token } = await user();
    expect(
      (
        await push(
          small,
          token,
          [1, 2, 3, 4].map((i) => create(`u${i}`)),
        )
      ).res.statusCode,
    ).toBe(200);
    // A client of a port nothing listens on: every command fails at once.
    const dead = createRedis('redis://127.0.0.1:1', {
      options: { lazyConnect: true, retryStrategy: () => null },
    });
    const cut = await h.build(LIMITS, { redis: dead }, { subscribed: false });
    const ok = await push(cut, token, [create('u5')]);
    expect(ok.res.statusCode, ok.res.body).toBe(200);
    const over = await push(cut, token, [create('u6')]);
    expect(over.res.statusCode, over.res.body).toBe(403);
    expect(over.res.json()).toMatchObject({ quota: 'entries', limit: 5, usage: 5 });
    const res = await cut.inject({ method: 'GET', url: '/sync/usage', headers: bearer(token) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().entries).toEqual({ usage: 5, limit: 5 });
    dead.disconnect();
  }, 60_000);
});

describe('GET /sync/usage', () => {
  it('answers each user their own usage, 401 without or with a bad token, and ignores hostile query strings', async () => {
    const a = await user();
    const b = await user();
    await push(small, a.token, [create('a1'), create('a2')]);
    expect((await usage(small, a.token)).entries.usage).toBe(2);
    expect((await usage(small, b.token)).entries.usage).toBe(0);

    const none = await small.inject({ method: 'GET', url: '/sync/usage' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'unauthorized' });
    const bad = await small.inject({
      method: 'GET',
      url: '/sync/usage',
      headers: bearer('not.a.token'),
    });
    expect(bad.statusCode).toBe(401);
    const hostile = await small.inject({
      method: 'GET',
      url: `/sync/usage?userId=${encodeURIComponent(b.userId)}&q[$gt]=`,
      headers: bearer(a.token),
    });
    expect(hostile.statusCode).toBeLessThan(500);
    if (hostile.statusCode === 200) expect(hostile.json().entries.usage).toBe(2);
  });
});
