import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { type Harness, newUserId, pull, push, syncHarness } from './helpers.js';

let h: Harness;
let app: SyncApp;
const commands: string[] = [];
const IGNORED = new Set([
  'hello',
  'ismaster',
  'isMaster',
  'ping',
  'endSessions',
  'saslStart',
  'saslContinue',
]);

beforeAll(async () => {
  h = await syncHarness('sync_roundtrips', { monitorCommands: true });
  app = await h.build();
  h.client.on('commandStarted', (event: CommandStartedEvent) => {
    if (!IGNORED.has(event.commandName)) commands.push(event.commandName);
  });
});
afterAll(() => h.close());

async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
  commands.length = 0;
  const result = await fn();
  return { result, commands: [...commands] };
}

describe('MongoDB round trips', () => {
  it('a push costs the same fixed number of commands for 1, 50 and 500 changes', async () => {
    const measured: Record<string, string[]> = {};
    for (const n of [1, 50, 500]) {
      const token = await h.token(newUserId(`rt${n}`));
      const create = Array.from({ length: n }, (_, i) => ({
        id: `e${i}`,
        baseRevision: 0,
        content: { i, text: 'some journal text' },
      }));
      const created = await counted(() => push(app, token, create));
      expect(created.result.body.accepted).toHaveLength(n);
      measured[`create ${n}`] = created.commands;
      const edit = create.map((c, i) => ({ ...c, baseRevision: i + 1, content: { i, v: 2 } }));
      const edited = await counted(() => push(app, token, edit));
      expect(edited.result.body.accepted).toHaveLength(n);
      measured[`edit ${n}`] = edited.commands;
      // The first applies (its base is current), every other one is stale.
      const mixed = create.map((c, i) => ({
        ...c,
        baseRevision: i === 0 ? n + 1 : 1,
        content: { i, v: 3 },
      }));
      const conflicted = await counted(() => push(app, token, mixed));
      expect(conflicted.result.body.conflicts).toHaveLength(n - 1);
      measured[`conflicts ${n}`] = conflicted.commands;
    }
    // heads + max revision, one insert; edits add one bulk update marking superseded versions.
    for (const n of [1, 50, 500]) {
      expect(measured[`create ${n}`]?.sort(), `create ${n}`).toEqual(['find', 'find', 'insert']);
      expect(measured[`edit ${n}`]?.sort(), `edit ${n}`).toEqual([
        'find',
        'find',
        'insert',
        'update',
      ]);
      expect(measured[`conflicts ${n}`]?.sort(), `conflicts ${n}`).toEqual([
        'find',
        'find',
        'insert',
        'update',
      ]);
    }
    console.log('push round trips', JSON.stringify(measured));
  });

  it('a pull costs one query from 0 and two (page + purge horizon) from a cursor, for any page size', async () => {
    const token = await h.token(newUserId('pull'));
    await push(
      app,
      token,
      Array.from({ length: 500 }, (_, i) => ({ id: `p${i}`, baseRevision: 0, content: { i } })),
    );
    for (const [query, expected] of [
      ['since=0&limit=1000', ['find']],
      ['since=0&limit=1', ['find']],
      ['since=10&limit=1000', ['find', 'find']],
      ['since=10&limit=300', ['find', 'find']],
      ['since=500&limit=1000', ['find', 'find']],
    ] as const) {
      const { result, commands: used } = await counted(() => pull(app, token, query));
      expect(result.res.statusCode).toBe(200);
      expect(used, query).toEqual(expected);
    }
  });

  it('a long-poll that ends unwoken costs what an empty pull does; a wake-up adds one pull', async () => {
    const token = await h.token(newUserId('wait'));
    await app.sync.notifier.ready();
    await push(app, token, [{ id: 'w0', baseRevision: 0, content: {} }]);
    // Let that push's own wake-up pass first: it would wake the pull below.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idle = await counted(() => pull(app, token, 'since=1&wait=1'));
    expect(idle.result.body).toMatchObject({ changes: [], revision: 1 });
    expect(idle.commands).toEqual(['find', 'find']);

    const woken = await counted(async () => {
      const waiting = pull(app, token, 'since=1&wait=10');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const pushed = await push(app, token, [{ id: 'w1', baseRevision: 0, content: {} }]);
      expect(pushed.res.statusCode).toBe(200);
      return waiting;
    });
    expect(woken.result.body.changes.map((e: { id: string }) => e.id)).toEqual(['w1']);
    // The pull's page and horizon, the push's three (two finds, one insert), then the woken
    // pull's page and horizon once more.
    expect([...woken.commands].sort()).toEqual([
      'find',
      'find',
      'find',
      'find',
      'find',
      'find',
      'insert',
    ]);
  });
});
