import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { type Harness, newUserId, pull, pullAll, push, syncHarness } from './helpers.js';

let h: Harness;
let app: SyncApp;
let other: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_purge');
  app = await h.build({ SYNC_TOMBSTONE_RETENTION_SECONDS: '1' });
  other = await h.build({ SYNC_TOMBSTONE_RETENTION_SECONDS: '1' });
});
afterAll(() => h.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tombstone retention', () => {
  it('purges old tombstones on two replicas at once; older cursors get 410, newer ones carry on', async () => {
    const userId = newUserId('purge');
    const token = await h.token(userId);
    await push(app, token, [
      { id: 'a', baseRevision: 0, content: { v: 1 } },
      { id: 'b', baseRevision: 0, content: { v: 1 } },
      { id: 'c', baseRevision: 0, content: { v: 1 } },
    ]);
    const beforeDelete = new Date();
    await push(app, token, [
      { id: 'a', baseRevision: 1, deleted: true },
      { id: 'b', baseRevision: 2, deleted: true },
    ]);
    await push(app, token, [{ id: 'c', baseRevision: 3, content: { v: 2 } }]);
    expect((await pullAll(app, token)).entries.map((e) => [e.id, e.revision])).toEqual([
      ['a', 4],
      ['b', 5],
      ['c', 6],
    ]);
    // Within the retention nothing goes (run as of the deletion: a slow store between it and
    // here must not age the tombstones past the 1 s retention).
    expect((await app.sync.purger.runOnce(beforeDelete)).tombstones).toBe(0);
    await sleep(1_100);
    const [one, two] = await Promise.all([app.sync.purger.runOnce(), other.sync.purger.runOnce()]);
    expect(one.tombstones + two.tombstones).toBeGreaterThanOrEqual(2);

    const fresh = await pullAll(app, token);
    expect(fresh.entries.map((e) => [e.id, e.revision])).toEqual([['c', 6]]);
    for (const since of [1, 2, 3, 4]) {
      const res = await pull(app, token, `since=${since}`);
      expect(res.res.statusCode, `since=${since}`).toBe(410);
      expect(res.res.json()).toMatchObject({ code: 'resync_required', status: 410 });
    }
    expect((await pull(app, token, 'since=5')).body.changes.map((e) => e.id)).toEqual(['c']);
    expect((await pull(app, token, 'since=6')).body.changes).toEqual([]);
    // Revisions keep counting up; a purged id can be created again.
    const again = await push(app, token, [{ id: 'a', baseRevision: 0, content: { back: true } }]);
    expect(again.body.accepted).toEqual([{ id: 'a', revision: 7 }]);
    // Superseded versions went too, except an entry's first one (c@3, content dropped): its
    // (id, base 0) slot refuses a second "new" c to a push that guesses its revisions.
    const stored = await h.db
      .collection('entry_versions')
      .find({ userId }, { projection: { _id: 0, id: 1, revision: 1, content: 1 } })
      .sort({ revision: 1 })
      .toArray();
    expect(stored).toEqual([
      { id: 'c', revision: 3, content: null },
      { id: 'c', revision: 6, content: '{"v":2}' },
      { id: 'a', revision: 7, content: '{"back":true}' },
    ]);
    // A push that guesses cannot create c anew over its first version's slot.
    const recreate = await push(app, token, [{ id: 'c', baseRevision: 0, content: { v: 9 } }]);
    expect(recreate.body.conflicts).toEqual([
      expect.objectContaining({ id: 'c', current: expect.objectContaining({ revision: 6 }) }),
    ]);
  });

  it("keeps an entry's first version when it purges superseded ones, so a guessing push cannot create the entry twice", async () => {
    // Default retention (90 days): heads are guessable; the purge runs "91 days later".
    const guessing = await h.build();
    const userId = newUserId('first');
    const token = await h.token(userId);
    await push(guessing, token, [{ id: 'c', baseRevision: 0, content: { v: 1 } }]);
    await push(guessing, token, [{ id: 'c', baseRevision: 1, content: { v: 2 } }]);
    const later = new Date(Date.now() + 91 * 86_400_000);
    await guessing.sync.purger.runOnce(later);
    const head = await guessing.sync.heads.get(userId);
    expect(guessing.sync.heads.guessable(head)).toBe(true);
    const twice = await push(guessing, token, [{ id: 'c', baseRevision: 0, content: { v: 9 } }]);
    expect(twice.body).toMatchObject({
      accepted: [],
      conflicts: [
        { id: 'c', current: expect.objectContaining({ revision: 2, content: { v: 2 } }) },
      ],
    });
    expect((await pullAll(guessing, token)).entries.map((e) => [e.id, e.revision])).toEqual([
      ['c', 2],
    ]);
  });

  it("never purges a user's highest revision, so revision numbers are never reused", async () => {
    const token = await h.token(newUserId('last'));
    await push(app, token, [{ id: 'x', baseRevision: 0, content: {} }]);
    await push(app, token, [{ id: 'x', baseRevision: 1, deleted: true }]);
    await sleep(1_100);
    await app.sync.purger.runOnce();
    expect((await pull(app, token, 'since=1')).body.changes).toEqual([
      expect.objectContaining({ id: 'x', revision: 2, deleted: true }),
    ]);
    const next = await push(app, token, [{ id: 'y', baseRevision: 0, content: {} }]);
    expect(next.body.accepted).toEqual([{ id: 'y', revision: 3 }]);
  });

  it('runs on its interval by itself', async () => {
    const timed = await h.build({
      SYNC_TOMBSTONE_RETENTION_SECONDS: '1',
      SYNC_PURGE_INTERVAL_SECONDS: '1',
    });
    const token = await h.token(newUserId('timer'));
    await push(timed, token, [{ id: 'p', baseRevision: 0, content: {} }]);
    await push(timed, token, [
      { id: 'p', baseRevision: 1, deleted: true },
      { id: 'q', baseRevision: 0, content: {} },
    ]);
    const deadline = Date.now() + 6_000;
    let status = 200;
    while (status !== 410 && Date.now() < deadline) {
      await sleep(200);
      status = (await pull(timed, token, 'since=1')).res.statusCode;
    }
    expect(status).toBe(410);
    await timed.close();
  });
});
