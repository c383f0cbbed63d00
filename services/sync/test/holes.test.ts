import { createRedis, type Entry, syncHeadKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import type { VersionDoc } from '../src/entries/repository.js';
import { gate, type Harness, newUserId, pull, pullAll, push, syncHarness } from './helpers.js';

/**
 * The feed's invariant (docs/sync.md, "The guarantee"): no revision is ever inserted below a
 * revision a reader may already have passed — whatever Redis says (lost, stale, ahead) — and a
 * push that died part-way leaves nothing a retry or the purge can turn into a lost version.
 */
let h: Harness;
let app: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_holes');
  app = await h.build({ ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0' });
});
afterAll(() => h.close());

const versions = () => h.db.collection<VersionDoc>('entry_versions');

describe('a head above the store never lets a later insert land behind a reader', () => {
  it('seals the holes a guess above the store leaves, so a push that read the store before cannot fill them', async () => {
    const userId = newUserId('ahead');
    const token = await h.token(userId);
    await push(
      app,
      token,
      [1, 2, 3].map((i) => ({ id: `e${i}`, baseRevision: 0, content: { i } })),
    );
    // B: a replica whose Redis does not answer reads the highest revision (3) from the store,
    // then stalls before inserting.
    const deadRedis = createRedis('redis://127.0.0.1:1', { options: { keyPrefix: h.keyPrefix } });
    const stall = gate();
    try {
      const b = await h.build(
        { ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0' },
        { redis: deadRedis, pushHooks: { beforeInsert: () => stall.wait() } },
        { subscribed: false },
      );
      const late = push(b, token, [{ id: 'late', baseRevision: 0, content: { b: true } }]);
      await stall.arrived;
      // The head in Redis is above the store (a restore without clearing Redis, say): A guesses
      // from it and inserts 9, leaving 4–8 empty.
      await app.sync.heads.raise(userId, 8, Date.now());
      const a = await push(app, token, [{ id: 'guess', baseRevision: 0, content: { a: true } }]);
      expect(a.body.accepted).toEqual([{ id: 'guess', revision: 9 }]);
      // A follower at 3 pulls: it gets 9, and its cursor passes 4–8.
      const follower = await pull(app, token, 'since=3');
      expect(follower.body.changes.map((c) => c.revision)).toEqual([9]);
      expect(follower.body.revision).toBe(9);
      // B goes on: 4 is sealed, so B collides and lands above the follower's cursor.
      stall.open();
      const landed = await late;
      expect(landed.res.statusCode).toBe(200);
      const revision = landed.body.accepted[0]?.revision ?? 0;
      expect(revision).toBeGreaterThan(9);
      // B could not raise the head (its Redis is down): the head's lifetime ends, as it would.
      await h.redis.del(syncHeadKey(userId));
      const next = await pull(app, token, 'since=9');
      expect(next.body.changes.map((c) => c.id)).toEqual(['late']);
      // The seals are never served, and a full pull sees every entry exactly once.
      const all = await pullAll(app, token);
      expect(all.entries.map((e) => e.id).sort()).toEqual(['e1', 'e2', 'e3', 'guess', 'late']);
      const seals = await versions().countDocuments({ userId, id: /^~seal-/ });
      expect(seals).toBe(5);
      await b.close();
    } finally {
      deadRedis.disconnect();
    }
  }, 60_000);

  it('seals nothing where the purge emptied revisions (they can never fill)', async () => {
    const userId = newUserId('purged');
    const token = await h.token(userId);
    await push(app, token, [{ id: 'p', baseRevision: 0, content: { v: 1 } }]);
    await push(app, token, [{ id: 'p', baseRevision: 1, content: { v: 2 } }]);
    await push(app, token, [{ id: 'p', baseRevision: 2, content: { v: 3 } }]);
    await push(app, token, [{ id: 'q', baseRevision: 0, content: {} }]);
    // A year later the purge removes the replaced version 2 (the first one stays as a stub).
    await app.sync.purger.runOnce(new Date(Date.now() + 400 * 86_400_000));
    expect(await versions().countDocuments({ userId, revision: 2 })).toBe(0);
    const page = await pull(app, token, 'since=0');
    expect(page.body.changes.map((c) => `${c.id}@${c.revision}`)).toEqual(['p@3', 'q@4']);
    expect(await versions().countDocuments({ userId, id: /^~seal-/ })).toBe(0);
  });
});

describe('a push that died part-way leaves nothing a retry, the purge or a create can misuse', () => {
  /** What a push that died after its insert, before marking the version it replaced, leaves. */
  async function insertUnmarked(userId: string, doc: Partial<VersionDoc>) {
    await versions().insertOne({
      userId,
      id: 'x',
      revision: 0,
      baseRevision: 0,
      deleted: false,
      content: null,
      clientUpdatedAt: null,
      updatedAt: new Date(),
      deviceId: null,
      ...doc,
    } as VersionDoc);
  }

  it('a retry accepted as identical marks the version its first attempt replaced', async () => {
    const userId = newUserId('retry');
    const token = await h.token(userId);
    await push(app, token, [{ id: 'x', baseRevision: 0, content: { v: 1 } }]);
    await app.sync.heads.raise(userId, 2, Date.now());
    await insertUnmarked(userId, { revision: 2, baseRevision: 1, content: '{"v":2}' });
    const retry = await push(app, token, [{ id: 'x', baseRevision: 1, content: { v: 2 } }]);
    expect(retry.body.accepted).toEqual([{ id: 'x', revision: 2 }]);
    expect((await versions().findOne({ userId, revision: 1 }))?.superseded).toBe(true);
  });

  it('the purge never takes a replaced old tombstone for the entry, and a create of its id still conflicts', async () => {
    const userId = newUserId('tomb');
    const token = await h.token(userId);
    await push(app, token, [{ id: 'x', baseRevision: 0, content: { v: 1 } }]);
    await push(app, token, [{ id: 'x', baseRevision: 1, deleted: true }]);
    // Restored on top of the tombstone by a push that died before marking it.
    await insertUnmarked(userId, { revision: 3, baseRevision: 2, content: '{"v":3}' });
    await app.sync.heads.raise(userId, 3, Date.now());
    await app.sync.purger.runOnce(new Date(Date.now() + 400 * 86_400_000));
    // The entry lives on: its first version (the (userId, id, 0) slot) and current version stay.
    expect(await versions().countDocuments({ userId, id: 'x', baseRevision: 0 })).toBe(1);
    const current = await pullAll(app, token);
    expect(current.entries.map((e: Entry) => `${e.id}@${e.revision}`)).toEqual(['x@3']);
    const create = await push(app, token, [{ id: 'x', baseRevision: 0, content: { other: 1 } }]);
    expect(create.body.accepted).toEqual([]);
    expect(create.body.conflicts.map((c) => c.current?.revision)).toEqual([3]);
  });

  it('a pull marks a replaced version it finds unmarked, and never serves it', async () => {
    const userId = newUserId('pullmark');
    const token = await h.token(userId);
    await push(app, token, [{ id: 'x', baseRevision: 0, content: { v: 1 } }]);
    await insertUnmarked(userId, { revision: 2, baseRevision: 1, content: '{"v":2}' });
    await h.redis.del(`sync:recent:${userId}`);
    await app.sync.heads.raise(userId, 2, Date.now());
    const page = await pull(app, token, 'since=0');
    expect(page.body.changes.map((c) => `${c.id}@${c.revision}`)).toEqual(['x@2']);
    expect((await versions().findOne({ userId, revision: 1 }))?.superseded).toBe(true);
  });
});
