import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  expectNoSecretsIn,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

interface Entry {
  id: string;
  revision: number;
  deleted: boolean;
  content: Record<string, unknown> | null;
  clientUpdatedAt: string | null;
  updatedAt: string;
  deviceId: string | null;
}
interface Changes {
  changes: Entry[];
  revision: number;
  hasMore: boolean;
}
interface PushReply {
  accepted: { id: string; revision: number }[];
  conflicts: { id: string; reason: string; current: Entry | null }[];
  revision: number;
}

let stack: TestStack;
let api: Client;
let alice: Account;
let bob: Account;

beforeAll(async () => {
  stack = await startTestStack('e2e-sync');
  api = client(stack.gateway);
  alice = await registerUser(api, 'alice');
  bob = await registerUser(api, 'bob');
});

afterAll(async () => {
  expectNoSecretsIn(stack.logs(), [
    alice.password,
    alice.accessToken,
    alice.refreshToken,
    bob.accessToken,
  ]);
  await stack.stop();
});

const push = (who: Account, changes: unknown[], headers?: Record<string, string>) =>
  api.post<PushReply>('/sync/push', { changes, deviceId: 'dev-1' }, who.accessToken, headers);
const pull = (who: Account, query: string) =>
  api.get<Changes>(`/sync/changes?${query}`, who.accessToken);

describe('sync through the gateway (docs/api.md)', () => {
  it('pushes new entries and pulls them back in revision order', async () => {
    const res = await push(alice, [
      {
        id: 'e1',
        baseRevision: 0,
        content: { title: 'first', tags: ['a'] },
        clientUpdatedAt: '2026-01-01T00:00:00.000Z',
      },
      { id: 'e2', baseRevision: 0, content: { title: 'second' } },
    ]);
    expect(res.status, res.text).toBe(200);
    expect(res.body.conflicts).toEqual([]);
    expect(res.body.accepted.map((a) => a.id)).toEqual(['e1', 'e2']);
    const [r1, r2] = res.body.accepted.map((a) => a.revision) as [number, number];
    expect(r2).toBeGreaterThan(r1);
    expect(res.body.revision).toBeGreaterThanOrEqual(r2);

    const all = await pull(alice, 'since=0');
    expect(all.status).toBe(200);
    expect(all.body.hasMore).toBe(false);
    expect(all.body.changes.map((e) => [e.id, e.revision])).toEqual([
      ['e1', r1],
      ['e2', r2],
    ]);
    expect(all.body.changes[0]).toMatchObject({
      id: 'e1',
      deleted: false,
      content: { title: 'first', tags: ['a'] },
      clientUpdatedAt: '2026-01-01T00:00:00.000Z',
      deviceId: 'dev-1',
    });
    expect(all.body.revision).toBe(r2);
    const none = await pull(alice, `since=${all.body.revision}`);
    expect(none.body).toEqual({
      changes: [],
      revision: all.body.revision,
      hasMore: false,
      generation: expect.any(String),
    });
  });

  it('pages with limit and hasMore without duplicates or gaps', async () => {
    const changes = Array.from({ length: 25 }, (_, i) => ({
      id: `page-${i}`,
      baseRevision: 0,
      content: { i },
    }));
    expect((await push(alice, changes)).status).toBe(200);
    const seen: string[] = [];
    let since = 0;
    for (let guard = 0; guard < 50; guard++) {
      const page = await pull(alice, `since=${since}&limit=7`);
      expect(page.status).toBe(200);
      expect(page.body.changes.length).toBeLessThanOrEqual(7);
      seen.push(...page.body.changes.map((e) => e.id));
      since = page.body.revision;
      if (!page.body.hasMore) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 25; i++) expect(seen).toContain(`page-${i}`);
  });

  it('reports a stale baseRevision as a conflict with the current entry and overwrites nothing', async () => {
    const created = await push(alice, [{ id: 'c1', baseRevision: 0, content: { v: 1 } }]);
    const rev = created.body.accepted[0]?.revision as number;
    const edit = await push(alice, [{ id: 'c1', baseRevision: rev, content: { v: 2 } }]);
    expect(edit.body.accepted).toHaveLength(1);
    const stale = await push(alice, [{ id: 'c1', baseRevision: rev, content: { v: 3 } }]);
    expect(stale.status).toBe(200);
    expect(stale.body.accepted).toEqual([]);
    expect(stale.body.conflicts).toHaveLength(1);
    expect(stale.body.conflicts[0]).toMatchObject({
      id: 'c1',
      reason: 'revision_mismatch',
      current: { content: { v: 2 } },
    });
    const again = await push(alice, [{ id: 'c1', baseRevision: 0, content: { v: 9 } }]);
    expect(again.body.conflicts[0]?.reason).toBe('revision_mismatch');
  });

  it('accepts a change identical to the current state without a new revision', async () => {
    const created = await push(alice, [
      { id: 'same', baseRevision: 0, content: { text: 'hello' } },
    ]);
    const rev = created.body.accepted[0]?.revision as number;
    const before = await pull(alice, 'since=0&limit=1000');
    const repeat = await push(alice, [{ id: 'same', baseRevision: 0, content: { text: 'hello' } }]);
    expect(repeat.body.conflicts).toEqual([]);
    expect(repeat.body.accepted).toEqual([{ id: 'same', revision: rev }]);
    const after = await pull(alice, `since=${before.body.revision}`);
    expect(after.body.changes).toEqual([]);
  });

  it('propagates deletes as tombstones to another device', async () => {
    const created = await push(alice, [{ id: 'gone', baseRevision: 0, content: { x: 1 } }]);
    const cursor = (await pull(alice, 'since=0&limit=1000')).body.revision;
    const del = await push(alice, [
      { id: 'gone', baseRevision: created.body.accepted[0]?.revision, deleted: true },
    ]);
    expect(del.body.accepted).toHaveLength(1);
    const other = await pull(alice, `since=${cursor}`);
    expect(other.body.changes).toHaveLength(1);
    expect(other.body.changes[0]).toMatchObject({ id: 'gone', deleted: true, content: null });
  });

  it('replays the first reply for a repeated Idempotency-Key without applying twice', async () => {
    const headers = { 'idempotency-key': `key-${Date.now()}` };
    const first = await push(alice, [{ id: 'idem', baseRevision: 0, content: { n: 1 } }], headers);
    const second = await push(alice, [{ id: 'idem', baseRevision: 0, content: { n: 1 } }], headers);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    const entries = (await pull(alice, 'since=0&limit=1000')).body.changes.filter(
      (e) => e.id === 'idem',
    );
    expect(entries).toHaveLength(1);
  });

  it('wakes a long-poll when another device pushes', async () => {
    const cursor = (await pull(bob, 'since=0&limit=1000')).body.revision;
    const started = Date.now();
    const waiting = pull(bob, `since=${cursor}&wait=20`);
    await new Promise((r) => setTimeout(r, 300));
    expect((await push(bob, [{ id: 'wake', baseRevision: 0, content: { hi: true } }])).status).toBe(
      200,
    );
    const woke = await waiting;
    expect(woke.status).toBe(200);
    expect(woke.body.changes.map((e) => e.id)).toEqual(['wake']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('ends an idle long-poll at its wait with no changes', async () => {
    const cursor = (await pull(bob, 'since=0&limit=1000')).body.revision;
    const started = Date.now();
    const res = await pull(bob, `since=${cursor}&wait=1`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      changes: [],
      revision: cursor,
      hasMore: false,
      generation: expect.any(String),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('keeps users apart: the same entry id is a separate entry per user', async () => {
    expect(
      (await push(bob, [{ id: 'e1', baseRevision: 0, content: { owner: 'bob' } }])).body.accepted,
    ).toHaveLength(1);
    const bobs = (await pull(bob, 'since=0&limit=1000')).body.changes;
    expect(
      bobs.every((e) => e.content === null || (e.content as { owner?: string }).owner !== 'alice'),
    ).toBe(true);
    expect(bobs.find((e) => e.id === 'e1')?.content).toEqual({ owner: 'bob' });
    const alices = (await pull(alice, 'since=0&limit=1000')).body.changes;
    expect(alices.find((e) => e.id === 'e1')?.content).toEqual({ title: 'first', tags: ['a'] });
  });

  it('answers bad input with 4xx problem documents', async () => {
    expectProblem(await pull(alice, 'since=-1'), 400, 'validation_failed');
    expectProblem(await pull(alice, 'limit=0'), 400, 'validation_failed');
    expectProblem(await pull(alice, 'limit=10001'), 400, 'validation_failed');
    expectProblem(await pull(alice, 'wait=31'), 400, 'validation_failed');
    expectProblem(await pull(alice, 'since[$gt]=0'), 400, 'validation_failed');
    expectProblem(
      await push(alice, [{ id: '../etc', baseRevision: 0, content: {} }]),
      400,
      'validation_failed',
    );
    expectProblem(
      await push(alice, [{ id: { $gt: '' }, baseRevision: 0, content: {} }]),
      400,
      'validation_failed',
    );
    expectProblem(
      await push(alice, [{ id: 'x', baseRevision: 'zero', content: {} }]),
      400,
      'validation_failed',
    );
    expectProblem(
      await push(alice, [{ id: 'x', baseRevision: 0, content: 'text' }]),
      400,
      'validation_failed',
    );
    const tooMany = Array.from({ length: 501 }, (_, i) => ({
      id: `m${i}`,
      baseRevision: 0,
      content: {},
    }));
    expectProblem(await push(alice, tooMany), 400, 'validation_failed');
    const huge = await push(alice, [
      { id: 'big', baseRevision: 0, content: { body: 'x'.repeat(1024 * 1024 + 10) } },
    ]);
    expect([400, 413]).toContain(huge.status);
    expectProblem(await api.post('/sync/push', { changes: [] }), 401, 'unauthorized');
    expectProblem(await api.get('/sync/changes'), 401, 'unauthorized');
  });
});
