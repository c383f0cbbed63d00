import { JournalClient, MemoryTokenStore } from '@journal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { PASSWORD, uniqueUser } from './helpers.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('sdk-resync', {
    SYNC_TOMBSTONE_RETENTION_SECONDS: '1',
    SYNC_PURGE_INTERVAL_SECONDS: '1',
  });
});
afterAll(async () => {
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resync past the purge horizon', () => {
  it('rebuilds from 0 and keeps every unpushed local edit', async () => {
    const username = uniqueUser('resync');
    const tokensA = new MemoryTokenStore();
    const a = new JournalClient({ baseUrl: stack.gateway, tokenStore: tokensA });
    const b = new JournalClient({ baseUrl: stack.gateway });
    await a.auth.register({ username, password: PASSWORD });
    await b.auth.login({ username, password: PASSWORD });
    for (const id of ['a', 'b', 'c', 'd']) await a.entries.put(id, { v: 1, id });
    await a.sync.syncNow();
    await b.sync.syncNow();
    expect((await b.entries.list()).map((e) => e.id)).toEqual(['a', 'b', 'c', 'd']);

    // B edits offline while A deletes and edits; the tombstones are purged meanwhile.
    await b.entries.put('c', { v: 'b-edit' });
    await b.entries.put('n1', { new: true });
    await b.entries.delete('d');
    await a.entries.delete('a');
    await a.entries.delete('b');
    await a.entries.put('c', { v: 'a-edit' });
    await a.sync.syncNow();
    const changes: { ids: string[]; source: string }[] = [];
    b.on('change', (e) => changes.push(e));
    let resynced = false;
    for (let i = 0; i < 40 && !resynced; i++) {
      await sleep(250);
      const res = await fetch(`${stack.gateway}/sync/changes?since=4`, {
        headers: { authorization: `Bearer ${tokensA.get()?.accessToken}` },
      });
      resynced = res.status === 410;
    }
    expect(resynced).toBe(true);

    await b.sync.pull(); // 410 → from 0; the unpushed edits stay
    expect(changes.some((c) => c.ids.length === 0)).toBe(true);
    expect((await b.entries.list()).map((e) => [e.id, e.pending])).toEqual([
      ['c', true],
      ['n1', true],
    ]);
    expect(await b.entries.pendingCount()).toBe(3);

    const conflicts: unknown[] = [];
    b.on('conflict', (c) => conflicts.push(c));
    await b.sync.syncNow();
    await a.sync.syncNow();
    expect(conflicts).toHaveLength(1);
    const server = new JournalClient({ baseUrl: stack.gateway });
    await server.auth.login({ username, password: PASSWORD });
    await server.sync.syncNow();
    const want = (await server.entries.list()).map((e) => [e.id, e.content]);
    expect(want).toHaveLength(3); // c (A's edit), B's copy of its c edit, n1; d deleted by B
    expect(want).toContainEqual(['c', { v: 'a-edit' }]);
    expect(want).toContainEqual(['n1', { new: true }]);
    expect(want.some(([, c]) => (c as { v?: string }).v === 'b-edit')).toBe(true);
    for (const c of [a, b]) {
      expect((await c.entries.list()).map((e) => [e.id, e.content])).toEqual(want);
      expect(await c.entries.pendingCount()).toBe(0);
    }
  });
});
