import {
  JournalClient,
  JournalError,
  LocalStorageTokenStore,
  MemoryStore,
  MemoryTokenStore,
  type StoredTokens,
} from '@journal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { eventually, PASSWORD, uniqueUser } from './helpers.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('sdk-robust');
});
afterAll(async () => {
  await stack?.stop();
});

type Tamper = (path: string, res: Response) => Promise<Response | undefined> | Response | undefined;

/** A fetch that passes real answers through, except where `tamper` replaces one. */
function tampering(): { fetch: typeof fetch; set(t: Tamper | undefined): void; calls: string[] } {
  let tamper: Tamper | undefined;
  const calls: string[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const path = new URL(String(input)).pathname;
    calls.push(`${init?.method ?? 'GET'} ${path}`);
    const res = await fetch(input, init);
    return (await tamper?.(path, res)) ?? res;
  }) as typeof fetch;
  return { fetch: f, set: (t) => (tamper = t), calls };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

/** A 503 problem with `Retry-After`, as the gateway answers for a busy upstream. */
const busy = (retryAfterSeconds: number) =>
  json(
    {
      type: 'about:blank',
      title: 'busy',
      status: 503,
      detail: 'busy',
      code: 'upstream_unavailable',
    },
    503,
    { 'retry-after': String(retryAfterSeconds) },
  );

async function pair(label: string, options: { fetch?: typeof fetch } = {}) {
  const username = uniqueUser(label);
  const store = new MemoryStore();
  const client = new JournalClient({
    baseUrl: stack.gateway,
    store,
    ...options,
    sync: { minBackoffMs: 20, maxBackoffMs: 200 },
  });
  await client.auth.register({ username, password: PASSWORD });
  const other = new JournalClient({ baseUrl: stack.gateway });
  await other.auth.login({ username, password: PASSWORD });
  return { client, other, store };
}

describe('malformed replies are typed errors and lose nothing', () => {
  it('a pull page that breaks the contract changes nothing locally', async () => {
    const t = tampering();
    const { client, other } = await pair('badpull', { fetch: t.fetch });
    await other.entries.put('r1', { from: 'other' });
    await other.sync.syncNow();
    await client.entries.put('mine', { v: 1 });
    await client.sync.push();
    t.set(async (path, res) => {
      if (path !== '/sync/changes') return undefined;
      const body = (await res.json()) as { changes: { revision: unknown }[] };
      if (body.changes[0]) body.changes[0].revision = 'seven';
      return json(body);
    });
    const err = await client.sync.pull().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect(err).toMatchObject({ code: 'bad_reply' });
    expect((err as Error).message).toMatch(/changes\.changes\[0\]\.revision/);
    expect((await client.entries.list()).map((e) => e.id)).toEqual(['mine']);
    t.set(async (path) =>
      path === '/sync/changes' ? new Response('<html>proxy', { status: 200 }) : undefined,
    );
    await expect(client.sync.pull()).rejects.toMatchObject({ code: 'bad_reply' });
    t.set(undefined);
    await client.sync.pull();
    expect((await client.entries.list()).map((e) => e.id).sort()).toEqual(['mine', 'r1']);
  });

  it('a malformed push reply keeps the batch; the resend with the same key settles it', async () => {
    const t = tampering();
    const { client, other } = await pair('badpush', { fetch: t.fetch });
    await client.entries.put('p1', { v: 1 });
    await client.entries.put('p2', { v: 1 });
    let once = true;
    t.set(async (path, res) => {
      if (path !== '/sync/push' || !once) return undefined;
      once = false;
      await res.text();
      return json({ accepted: [{ id: 'not-pushed', revision: 1 }], conflicts: [], revision: 1 });
    });
    await expect(client.sync.push()).rejects.toMatchObject({ code: 'bad_reply' });
    expect(await client.entries.pendingCount()).toBe(2);
    await client.sync.push();
    expect(await client.entries.pendingCount()).toBe(0);
    await other.sync.syncNow();
    expect((await other.entries.list()).map((e) => [e.id, e.revision])).toEqual(
      (await client.entries.list()).map((e) => [e.id, e.revision]),
    );
    expect(t.calls.filter((c) => c === 'POST /sync/push')).toHaveLength(2);
  });
});

describe('backoff and connectivity', () => {
  it('503 with Retry-After: the next try waits at least that long, then succeeds', async () => {
    const t = tampering();
    const { client } = await pair('retry', { fetch: t.fetch });
    await client.entries.put('x', { v: 1 });
    let refused = 0;
    const times: number[] = [];
    t.set(async (path, res) => {
      if (path !== '/sync/push') return undefined;
      times.push(Date.now());
      if (refused++ > 0) return undefined;
      await res.text();
      return busy(1);
    });
    await client.sync.syncNow();
    expect(refused).toBe(2);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(950);
    expect(await client.entries.pendingCount()).toBe(0);
    await expect(client.sync.syncNow(0)).resolves.toBeUndefined();
  });

  it('an edit made while the live loop waits out a failure is pushed at once, not after the wait', async () => {
    const t = tampering();
    const { client, other } = await pair('backoff', { fetch: t.fetch });
    let failing = true;
    // Every pull fails with a long Retry-After: the live loop waits 20 s between tries.
    t.set(async (path, res) => {
      if (path !== '/sync/changes' || !failing) return undefined;
      await res.text();
      return busy(20);
    });
    client.sync.start();
    await eventually(() => client.sync.status === 'error');
    failing = false;
    const before = Date.now();
    await client.entries.put('during-backoff', { v: 1 });
    await eventually(async () => (await client.entries.pendingCount()) === 0);
    expect(Date.now() - before).toBeLessThan(15_000);
    await other.sync.syncNow();
    expect((await other.entries.get('during-backoff'))?.content).toEqual({ v: 1 });
    await client.sync.stop();
  });

  it('offline: edits wait in the outbox; back online they are pushed at once', async () => {
    const { client, other } = await pair('online', {});
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s));
    client.sync.start();
    await eventually(() => client.sync.status === 'live');
    client.sync.setOnline(false);
    expect(client.sync.status).toBe('offline');
    await client.entries.put('o1', { offline: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(await client.entries.pendingCount()).toBe(1);
    client.sync.setOnline(true);
    await eventually(async () => (await client.entries.pendingCount()) === 0);
    await other.sync.syncNow();
    expect((await other.entries.get('o1'))?.content).toEqual({ offline: true });
    await client.sync.stop();
    expect(statuses).toEqual(expect.arrayContaining(['syncing', 'live', 'offline', 'idle']));
    expect(client.sync.status).toBe('idle');
  });
});

describe('Qiniu', () => {
  it('direct upload without Qiniu configured on the server is a typed 503', async () => {
    const { client } = await pair('noqiniu');
    await expect(
      client.attachments.uploadToQiniu('big/file.bin', new Blob(['x'])),
    ).rejects.toMatchObject({ code: 'storage_not_configured', status: 503 });
  });
});

describe('token stores', () => {
  it('LocalStorageTokenStore: two tabs sharing localStorage and Web Locks refresh once', async () => {
    const storage = new Map<string, string>();
    const localStorage = {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => void storage.set(k, v),
      removeItem: (k: string) => void storage.delete(k),
    };
    // A Web Locks stand-in (Node 20 has none): exclusive per name, FIFO.
    const tails = new Map<string, Promise<unknown>>();
    const requested: string[] = [];
    const locks = {
      request<T>(name: string, fn: () => Promise<T>): Promise<T> {
        requested.push(name);
        const run = (tails.get(name) ?? Promise.resolve()).then(fn, fn);
        tails.set(
          name,
          run.catch(() => {}),
        );
        return run;
      },
    };
    const g = globalThis as { navigator?: unknown };
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true });
    try {
      let refreshes = 0;
      const counting = ((input: string | URL | Request, init?: RequestInit) => {
        if (String(input).endsWith('/auth/refresh')) refreshes++;
        return fetch(input, init);
      }) as typeof fetch;
      const tab1 = new JournalClient({
        baseUrl: stack.gateway,
        tokenStore: new LocalStorageTokenStore('journal.tokens', localStorage),
        fetch: counting,
      });
      const tab2 = new JournalClient({
        baseUrl: stack.gateway,
        tokenStore: new LocalStorageTokenStore('journal.tokens', localStorage),
        fetch: counting,
      });
      const user = await tab1.auth.register({ username: uniqueUser('tabs'), password: PASSWORD });
      expect(tab2.auth.isSignedIn()).toBe(true);
      const t = JSON.parse(storage.get('journal.tokens') as string) as StoredTokens;
      storage.set('journal.tokens', JSON.stringify({ ...t, expiresAt: Date.now() - 1 }));
      const all = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? tab1 : tab2).auth.me()),
      );
      expect(all.every((u) => u.id === user.id)).toBe(true);
      expect(refreshes).toBe(1);
      expect(new Set(requested)).toEqual(new Set(['journal-refresh:journal.tokens']));
      await tab2.auth.logout();
      expect(tab1.auth.isSignedIn()).toBe(false);
      expect(g.navigator).toBeDefined();
    } finally {
      if (had) Object.defineProperty(globalThis, 'navigator', had);
      else delete g.navigator;
    }
  });

  it('MemoryTokenStore: a client starts signed in from stored tokens', async () => {
    const tokens = new MemoryTokenStore();
    const a = new JournalClient({ baseUrl: stack.gateway, tokenStore: tokens });
    await a.auth.register({ username: uniqueUser('mem'), password: PASSWORD });
    const b = new JournalClient({
      baseUrl: stack.gateway,
      tokenStore: new MemoryTokenStore(tokens.get()),
    });
    expect(b.auth.isSignedIn()).toBe(true);
    expect((await b.auth.me()).id).toBe((await a.auth.me()).id);
  });
});
