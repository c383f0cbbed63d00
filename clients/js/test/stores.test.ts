import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IndexedDbStore,
  JournalClient,
  type LocalStore,
  MemoryStore,
  MemoryTokenStore,
} from '@journal/client';
import { SqliteStore } from '@journal/client/sqlite';
import { IDBFactory } from 'fake-indexeddb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { PASSWORD, uniqueUser } from './helpers.js';

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack('sdk-stores');
  dir = await mkdtemp(join(tmpdir(), 'sdk-stores-'));
});
afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

const adapters: [string, () => LocalStore][] = [
  ['MemoryStore', () => new MemoryStore()],
  [
    'IndexedDbStore (fake-indexeddb)',
    () => new IndexedDbStore(`db${Math.random()}`, new IDBFactory()),
  ],
  ['SqliteStore', () => new SqliteStore(join(dir, `${Math.random()}.db`))],
];

describe.each(adapters)('%s', (_name, make) => {
  it('transactions are all or nothing', async () => {
    const store = make();
    await store.open();
    await expect(
      store.transaction(async (tx) => {
        await tx.put({
          id: 'a',
          content: { x: 1 },
          deleted: false,
          revision: 0,
          pending: true,
          seq: 1,
          updatedAt: 'now',
        });
        await tx.setMeta('cursor', '5');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.all()).toEqual([]);
    expect(await store.transaction(async (tx) => tx.getMeta('cursor'))).toBeUndefined();
    await store.transaction(async (tx) => {
      await tx.put({
        id: 'b',
        content: null,
        deleted: true,
        revision: 3,
        pending: false,
        seq: 0,
        updatedAt: 't',
      });
      await tx.put({
        id: 'a',
        content: { x: 1 },
        deleted: false,
        revision: 0,
        pending: true,
        seq: 2,
        updatedAt: 't',
      });
      await tx.put({
        id: 'c',
        content: { y: [1, 'z'] },
        deleted: false,
        revision: 0,
        pending: true,
        seq: 1,
        updatedAt: 't',
      });
      await tx.setMeta('cursor', '7');
    });
    expect((await store.pending(10)).map((e) => e.id)).toEqual(['c', 'a']);
    expect((await store.pending(1)).map((e) => e.id)).toEqual(['c']);
    expect((await store.all()).map((e) => e.id)).toEqual(['a', 'b', 'c']);
    expect((await store.all())[2]?.content).toEqual({ y: [1, 'z'] });
    await store.removeSettled();
    expect((await store.all()).map((e) => e.id)).toEqual(['a', 'c']);
    await store.clear();
    expect(await store.all()).toEqual([]);
    await store.close();
  });

  it('a client on this store syncs with another device', async () => {
    const username = uniqueUser('store');
    const a = new JournalClient({ baseUrl: stack.gateway, store: make() });
    const b = new JournalClient({ baseUrl: stack.gateway, store: new MemoryStore() });
    await a.auth.register({ username, password: PASSWORD });
    await b.auth.login({ username, password: PASSWORD });
    for (let i = 0; i < 30; i++) await a.entries.put(`e${i}`, { i, tags: ['x'] });
    await a.entries.delete('e3');
    await a.sync.syncNow();
    await b.entries.put('from-b', { hello: 'a' });
    await b.sync.syncNow();
    await a.sync.syncNow();
    const list = await a.entries.list();
    expect(list).toHaveLength(30);
    expect(list.every((e) => !e.pending && e.revision > 0)).toBe(true);
    expect((await a.entries.get('from-b'))?.content).toEqual({ hello: 'a' });
    expect(await a.entries.get('e3')).toBeUndefined();
    expect((await b.entries.list()).map((e) => e.id).sort()).toEqual(list.map((e) => e.id).sort());
    await a.close();
  });
});

describe('SqliteStore durability', () => {
  it('keeps entries, the outbox and the cursor across a reopen; another user signing in clears it', async () => {
    const file = join(dir, 'durable.db');
    const tokenStore = new MemoryTokenStore();
    const username = uniqueUser('durable');
    const first = new JournalClient({
      baseUrl: stack.gateway,
      store: new SqliteStore(file),
      tokenStore,
    });
    await first.auth.register({ username, password: PASSWORD });
    await first.entries.put('synced', { v: 1 });
    await first.sync.syncNow();
    await first.entries.put('unpushed', { v: 2 });
    await first.close();

    const again = new JournalClient({
      baseUrl: stack.gateway,
      store: new SqliteStore(file),
      tokenStore,
    });
    expect(await again.entries.pendingCount()).toBe(1);
    expect((await again.entries.get('synced'))?.revision).toBeGreaterThan(0);
    await again.sync.syncNow();
    expect(await again.entries.pendingCount()).toBe(0);
    await again.auth.register({ username: uniqueUser('other'), password: PASSWORD });
    expect(await again.entries.list()).toEqual([]);
    await again.close();
  });
});
