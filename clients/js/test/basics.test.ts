import { JournalError, MemoryStore, MemoryTokenStore } from '@journal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { eventually, newClient, PASSWORD, uniqueUser } from './helpers.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('sdk-basics');
});
afterAll(async () => {
  await stack?.stop();
});

describe('quick start: two devices', () => {
  it('syncs an entry, an edit and a delete between two devices live', async () => {
    const username = uniqueUser('qs');
    const a = newClient(stack.gateway, { sync: { waitSeconds: 5 } });
    const b = newClient(stack.gateway, { sync: { waitSeconds: 5 } });
    await a.auth.register({ username, password: PASSWORD, deviceName: 'a' });
    await b.auth.login({ username, password: PASSWORD, deviceName: 'b' });
    expect(a.auth.isSignedIn()).toBe(true);
    a.sync.start();
    b.sync.start();
    const remote: string[] = [];
    b.on('change', (e) => e.source === 'remote' && remote.push(...e.ids));

    const e = await a.entries.put(undefined, { title: 'hello' });
    expect(e.pending).toBe(true);
    await eventually(async () => (await b.entries.get(e.id))?.content?.title === 'hello');
    expect(remote).toContain(e.id);
    await a.entries.put(e.id, { title: 'edited' });
    await eventually(async () => (await b.entries.get(e.id))?.content?.title === 'edited');
    await b.entries.delete(e.id);
    await eventually(async () => (await a.entries.get(e.id)) === undefined);
    await eventually(async () => (await a.entries.pendingCount()) === 0);
    expect(await b.entries.list()).toEqual([]);
    expect(a.sync.status).toBe('live');
    await a.close();
    await b.close();
  });

  it('a concurrent edit keeps the server version and the local one as a conflicted copy', async () => {
    const username = uniqueUser('cf');
    const a = newClient(stack.gateway);
    const b = newClient(stack.gateway);
    await a.auth.register({ username, password: PASSWORD });
    await b.auth.login({ username, password: PASSWORD });
    const e = await a.entries.put('shared-1', { text: 'v1' });
    await a.sync.syncNow();
    await b.sync.syncNow();
    expect((await b.entries.get(e.id))?.content).toEqual({ text: 'v1' });
    await a.entries.put(e.id, { text: 'from a' });
    await b.entries.put(e.id, { text: 'from b' });
    await a.sync.syncNow();
    const conflicts: unknown[] = [];
    b.on('conflict', (c) => conflicts.push(c));
    await b.sync.syncNow();
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({
      id: e.id,
      resolution: 'copy',
      local: { content: { text: 'from b' } },
      server: { content: { text: 'from a' } },
    });
    await a.sync.syncNow();
    for (const c of [a, b]) {
      const list = await c.entries.list();
      expect(
        list.map((x) => x.content).sort((x, y) => String(x?.text).localeCompare(String(y?.text))),
      ).toEqual([{ text: 'from a' }, { text: 'from b' }]);
      expect(list.every((x) => !x.pending)).toBe(true);
    }
  });

  it('manual conflicts wait for the app and resolve with merged content', async () => {
    const username = uniqueUser('mc');
    const a = newClient(stack.gateway);
    const b = newClient(stack.gateway, { resolveConflict: () => 'manual' });
    await a.auth.register({ username, password: PASSWORD });
    await b.auth.login({ username, password: PASSWORD });
    await a.entries.put('m1', { n: 1 });
    await a.sync.syncNow();
    await b.sync.syncNow();
    await a.entries.put('m1', { n: 2 });
    await b.entries.put('m1', { n: 3 });
    await a.sync.syncNow();
    await b.sync.syncNow();
    expect(b.conflicts.list()).toMatchObject([
      { id: 'm1', local: { content: { n: 3 } }, server: { content: { n: 2 } } },
    ]);
    expect(await b.entries.pendingCount()).toBe(1);
    await b.conflicts.resolve('m1', { n: 5 });
    expect(b.conflicts.list()).toEqual([]);
    await b.sync.syncNow();
    await a.sync.syncNow();
    expect((await a.entries.get('m1'))?.content).toEqual({ n: 5 });
    await expect(b.conflicts.resolve('m1', 'local')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('typed errors: bad credentials, taken username, invalid ids, signed out', async () => {
    const username = uniqueUser('err');
    const a = newClient(stack.gateway);
    await a.auth.register({ username, password: PASSWORD });
    const b = newClient(stack.gateway);
    await expect(b.auth.register({ username, password: PASSWORD })).rejects.toMatchObject({
      code: 'username_taken',
      status: 409,
    });
    await expect(b.auth.login({ username, password: 'wrong password!' })).rejects.toMatchObject({
      code: 'invalid_credentials',
      status: 401,
    });
    await expect(b.auth.me()).rejects.toMatchObject({ code: 'signed_out' });
    await expect(a.entries.put('../etc', { x: 1 })).rejects.toBeInstanceOf(JournalError);
    await expect(a.entries.delete('missing')).rejects.toMatchObject({ code: 'not_found' });
    const unreachable = newClient('http://127.0.0.1:1', {
      tokenStore: new MemoryTokenStore(),
      store: new MemoryStore(),
    });
    await expect(unreachable.auth.login({ username, password: PASSWORD })).rejects.toMatchObject({
      code: 'network',
    });
  });

  it('auth: me, sessions, logout of all devices signs every device out', async () => {
    const username = uniqueUser('auth');
    const a = newClient(stack.gateway);
    const b = newClient(stack.gateway);
    const user = await a.auth.register({ username, password: PASSWORD, deviceName: 'laptop' });
    await b.auth.login({ username, password: PASSWORD, deviceName: 'phone' });
    expect(await a.auth.me()).toEqual(user);
    const sessions = await a.auth.sessions();
    expect(sessions.map((s) => s.deviceName).sort()).toEqual(['laptop', 'phone']);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);
    const outB: string[] = [];
    b.on('signedOut', (e) => outB.push(e.reason));
    await a.auth.logout({ allDevices: true });
    expect(a.auth.isSignedIn()).toBe(false);
    await expect(b.auth.me()).rejects.toMatchObject({ code: 'signed_out' });
    expect(outB).toEqual(['revoked']);
    expect(b.auth.isSignedIn()).toBe(false);
  });
});
