import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { bearer, type Harness, newUserId, push, syncHarness } from './helpers.js';

/** GET /sync/entries/:id/versions: an entry's kept versions, newest first, the owner's only. */
let h: Harness;
let app: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_history');
  app = await h.build();
});
afterAll(() => h.close());

async function user() {
  const userId = newUserId('hist');
  return { userId, token: await h.token(userId) };
}

function history(token: string | undefined, id: string, query = '') {
  return app.inject({
    method: 'GET',
    url: `/sync/entries/${id}/versions${query}`,
    headers: token ? bearer(token) : {},
  });
}

describe('entry history', () => {
  it('lists every version newest first, with revisions, contents and times', async () => {
    const { token } = await user();
    const r1 = await push(app, token, [{ id: 'e', baseRevision: 0, content: { title: 'one' } }], {
      deviceId: 'laptop',
    });
    expect(r1.res.statusCode).toBe(200);
    await push(app, token, [{ id: 'other', baseRevision: 0, content: { title: 'not this' } }]);
    await push(app, token, [{ id: 'e', baseRevision: 1, content: { title: 'two' } }]);
    await push(app, token, [
      {
        id: 'e',
        baseRevision: 3,
        content: { title: 'three' },
        clientUpdatedAt: '2026-03-01T09:00:00+01:00',
      },
    ]);
    const res = await history(token, 'e');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.id).toBe('e');
    expect(body.nextBefore).toBeNull();
    expect(
      body.versions.map((v: { revision: number; content: unknown; current: boolean }) => [
        v.revision,
        v.content,
        v.current,
      ]),
    ).toEqual([
      [4, { title: 'three' }, true],
      [3, { title: 'two' }, false],
      [1, { title: 'one' }, false],
    ]);
    const [newest, , oldest] = body.versions;
    expect(Date.parse(newest.clientUpdatedAt)).toBe(Date.parse('2026-03-01T09:00:00+01:00'));
    expect(newest.replacedAt).toBeNull();
    expect(oldest.deviceId).toBe('laptop');
    expect(Date.parse(oldest.replacedAt)).toBeGreaterThanOrEqual(Date.parse(oldest.updatedAt));

    // A deletion is a version too (content null); the versions before it stay listed.
    await push(app, token, [{ id: 'e', baseRevision: 4, deleted: true }]);
    const after = (await history(token, 'e')).json();
    expect(after.versions[0]).toMatchObject({ revision: 5, deleted: true, content: null });
    expect(after.versions).toHaveLength(4);
    // Pulls still serve only the current version.
    const pulled = await app.inject({
      method: 'GET',
      url: '/sync/changes?since=0',
      headers: bearer(token),
    });
    expect(pulled.json().changes.map((c: { id: string }) => c.id)).toEqual(['other', 'e']);
  });

  it('pages with limit and before', async () => {
    const { token } = await user();
    let base = 0;
    for (let i = 1; i <= 5; i++) {
      const { body } = await push(app, token, [{ id: 'p', baseRevision: base, content: { i } }]);
      base = body.accepted[0]?.revision ?? -1;
    }
    const first = (await history(token, 'p', '?limit=2')).json();
    expect(first.versions.map((v: { content: { i: number } }) => v.content.i)).toEqual([5, 4]);
    expect(first.nextBefore).toBe(4);
    const second = (await history(token, 'p', `?limit=2&before=${first.nextBefore}`)).json();
    expect(second.versions.map((v: { content: { i: number } }) => v.content.i)).toEqual([3, 2]);
    const last = (await history(token, 'p', `?limit=2&before=${second.nextBefore}`)).json();
    expect(last.versions.map((v: { content: { i: number } }) => v.content.i)).toEqual([1]);
    expect(last.nextBefore).toBeNull();
  });

  it('leaves out versions replaced longer ago than the retention', async () => {
    const { userId, token } = await user();
    await push(app, token, [{ id: 'old', baseRevision: 0, content: { v: 1 } }]);
    await push(app, token, [{ id: 'old', baseRevision: 1, content: { v: 2 } }]);
    await h.db
      .collection('entry_versions')
      .updateOne(
        { userId, id: 'old', revision: 1 },
        { $set: { supersededAt: new Date(Date.now() - 91 * 86_400_000) } },
      );
    const body = (await history(token, 'old')).json();
    expect(body.versions.map((v: { revision: number }) => v.revision)).toEqual([2]);
  });

  it("answers 404 for an unknown id and for another user's entry, the same way", async () => {
    const alice = await user();
    const bob = await user();
    await push(app, alice.token, [{ id: 'secret', baseRevision: 0, content: { t: 'mine' } }]);
    const unknown = await history(bob.token, 'never-was');
    const others = await history(bob.token, 'secret');
    for (const res of [unknown, others]) {
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('not_found');
    }
    expect(others.body).not.toContain('mine');
  });

  it('refuses hostile ids, queries and tokens with a 4xx problem, never a 5xx', async () => {
    const { token } = await user();
    await push(app, token, [{ id: 'h', baseRevision: 0, content: { t: 1 } }]);
    const cases: [string, string][] = [
      ['..%2F..%2Fh', ''],
      ['%7B%22%24gt%22%3A%22%22%7D', ''],
      ['h%00', ''],
      ['x'.repeat(129), ''],
      ['h', '?limit=0'],
      ['h', '?limit=201'],
      ['h', '?limit=abc'],
      ['h', '?limit=1e3'],
      ['h', '?before=0'],
      ['h', '?before=-1'],
      ['h', '?before[$gt]='],
      ['h', '?limit=%7B%22%24gt%22%3A%22%22%7D'],
      ['h', '?extra=1'],
    ];
    for (const [id, query] of cases) {
      const res = await history(token, id, query);
      expect(res.statusCode, `${id}${query}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${id}${query}`).toBeLessThan(500);
      expect(res.json().code, `${id}${query}`).toEqual(expect.any(String));
    }
    expect((await history(token, '..%2F..%2Fh')).statusCode).toBe(400);
    expect((await history(undefined, 'h')).statusCode).toBe(401);
    expect((await history('not-a-token', 'h')).statusCode).toBe(401);
    const wrongMethod = await app.inject({
      method: 'POST',
      url: '/sync/entries/h/versions',
      headers: bearer(token),
      payload: { $gt: '' },
    });
    expect(wrongMethod.statusCode).toBeGreaterThanOrEqual(400);
    expect(wrongMethod.statusCode).toBeLessThan(500);
  });
});
