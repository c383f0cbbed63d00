import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  importJournal,
  JournalClient,
  type JournalClientOptions,
  MemoryTokenStore,
} from '@journal/client';
import { SqliteStore } from '@journal/client/sqlite';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { eventually, newClient, PASSWORD, uniqueUser } from './helpers.js';

/**
 * End-to-end encryption on one device and between devices, beside encryption.test.ts: the
 * keys kept in the local store (a reopened app is unlocked; lock, sign-out and forgetting the
 * local data drop them), a device that learns of encryption from a refused push, two
 * passphrase changes racing, the history decrypted, and exports (readable, or encrypted with a
 * passphrase the import needs).
 */

const PASS1 = 'device test passphrase one';
const PASS2 = 'device test passphrase two';
const PASS3 = 'device test passphrase three';
const PASS4 = 'device test passphrase four';

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack('sdk-e2e-devices', {
    RATE_LIMIT_AUTHENTICATED_MAX: '1000000',
    RATE_LIMIT_MAX: '1000000',
  });
  dir = await mkdtemp(join(tmpdir(), 'sdk-e2e-'));
});
afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

const code = (c: string) => expect.objectContaining({ code: c });

/**
 * Every unlock, change and recovery derives a key with Argon2id (64 MiB, t=3): deliberately
 * slow, and several times slower on a loaded 2-core machine. The tests here make 5 to 12.
 */
const ARGON2_HEAVY = 180_000;

/** A signed-in device of `username` with its own session store. */
async function device(
  username: string,
  options: Partial<JournalClientOptions> = {},
): Promise<JournalClient> {
  const client = newClient(stack.gateway, { tokenStore: new MemoryTokenStore(), ...options });
  await client.auth.login({ username, password: PASSWORD });
  return client;
}

/** A new account with encryption on (PASS1): its first device, unlocked, migration done. */
async function encryptedAccount(label: string): Promise<{ username: string; a: JournalClient }> {
  const username = uniqueUser(label);
  const a = newClient(stack.gateway);
  await a.auth.register({ username, password: PASSWORD });
  await a.encryption.enable({ passphrase: PASS1 });
  await a.encryption.resume();
  return { username, a };
}

describe('the keys on a device', () => {
  it(
    'a reopened app is unlocked; lock(), sign-out and forgetLocalData() forget the keys',
    async () => {
      const { username, a } = await encryptedAccount('e2e-keys');
      await a.entries.put('k', { title: 'kept' });
      await a.sync.syncNow();
      const tokens = new MemoryTokenStore();
      const path = join(dir, `${username}.db`);
      const open = () =>
        new JournalClient({
          baseUrl: stack.gateway,
          tokenStore: tokens,
          store: new SqliteStore(path),
        });

      const first = open();
      await first.auth.login({ username, password: PASSWORD });
      expect(first.encryption.state).toBe('locked');
      await first.encryption.unlock(PASS1);
      await first.sync.syncNow();
      await first.close();

      // The app opens again on its store: unlocked before any request, no passphrase asked.
      const reopened = open();
      await reopened.entries.put('k2', { title: 'from the reopened app' });
      await reopened.sync.syncNow();
      expect(reopened.encryption.state).toBe('unlocked');
      expect(await reopened.entries.pendingCount()).toBe(0);
      expect(await reopened.encryption.refresh()).toBe('unlocked');
      await reopened.encryption.lock();
      expect(reopened.encryption.state).toBe('locked');
      await reopened.entries.put('k3', { title: 'waits for the unlock' });
      await reopened.sync.syncNow();
      expect(reopened.sync.status).toBe('locked');
      await reopened.close();

      const locked = open();
      expect(await locked.encryption.refresh()).toBe('locked');
      expect(await locked.entries.pendingCount()).toBe(1);
      await locked.encryption.unlock(PASS1);
      await locked.sync.syncNow();
      expect(await locked.entries.pendingCount()).toBe(0);
      await locked.auth.logout();
      await eventually(() => locked.encryption.state !== 'unlocked');
      await locked.close();

      const again = open();
      await again.auth.login({ username, password: PASSWORD });
      expect(await again.encryption.refresh()).toBe('locked');
      await again.encryption.unlock(PASS1);
      await again.forgetLocalData();
      expect(again.encryption.state).not.toBe('unlocked');
      expect(await again.encryption.refresh()).toBe('locked');
      await again.close();

      await a.sync.syncNow();
      expect(Object.fromEntries((await a.entries.list()).map((e) => [e.id, e.content]))).toEqual({
        k: { title: 'kept' },
        k2: { title: 'from the reopened app' },
        k3: { title: 'waits for the unlock' },
      });
      await a.close();
    },
    ARGON2_HEAVY,
  );

  it(
    'a device that has not heard of it is refused once, then is locked and keeps its edit',
    async () => {
      const username = uniqueUser('e2e-late');
      const a = newClient(stack.gateway);
      await a.auth.register({ username, password: PASSWORD });
      const refused: number[] = [];
      const counting = (async (input: string | URL | Request, init?: RequestInit) => {
        const res = await fetch(input, init);
        if (String(input).endsWith('/sync/push') && res.status === 403) refused.push(res.status);
        return res;
      }) as typeof fetch;
      const b = await device(username, { fetch: counting });
      expect(await b.encryption.refresh()).toBe('off');
      await a.encryption.enable({ passphrase: PASS1 });
      await a.encryption.resume();

      await b.entries.put('late', { title: 'written before b knew' });
      await b.sync.syncNow();
      expect(b.encryption.state).toBe('locked');
      expect(b.sync.status).toBe('locked');
      expect(await b.entries.pendingCount()).toBe(1);
      // Locked: nothing goes, however often it is asked (refused once, not in a loop).
      await b.sync.syncNow();
      expect(await b.entries.pendingCount()).toBe(1);
      expect(refused).toHaveLength(1);

      await b.encryption.unlock(PASS1);
      await b.sync.syncNow();
      await a.sync.syncNow();
      expect((await a.entries.get('late'))?.content).toEqual({ title: 'written before b knew' });
      expect(b.sync.status).toBe('idle');
      await a.close();
      await b.close();
    },
    ARGON2_HEAVY,
  );
});

describe('passphrase changes', () => {
  it(
    'two changes racing: the later swap meets the newer bundle, adopts it and goes on top',
    async () => {
      const { username, a } = await encryptedAccount('e2e-cas');
      let raced = false;
      // Just before C's write of the bundle, A changes the passphrase: C's swap is stale.
      const racing = (async (input: string | URL | Request, init?: RequestInit) => {
        if (!raced && init?.method === 'PUT' && String(input).endsWith('/auth/encryption')) {
          raced = true;
          await a.encryption.changePassphrase(PASS1, PASS2);
        }
        return fetch(input, init);
      }) as typeof fetch;
      const c = await device(username, { fetch: racing });
      await c.encryption.unlock(PASS1);
      await c.encryption.changePassphrase(PASS1, PASS3);
      expect(raced).toBe(true);
      expect(c.encryption.state).toBe('unlocked');

      // The last change wins; both devices go on without a prompt.
      const d = await device(username);
      await expect(d.encryption.unlock(PASS2)).rejects.toEqual(code('wrong_passphrase'));
      await d.encryption.unlock(PASS3);
      await a.entries.put('after', { from: 'a' });
      await a.sync.syncNow();
      await c.sync.syncNow();
      expect((await c.entries.get('after'))?.content).toEqual({ from: 'a' });
      expect(a.encryption.state).toBe('unlocked');
      // A, holding the keys, changes it again from the newest passphrase.
      await a.encryption.changePassphrase(PASS3, PASS4);
      const e = await device(username);
      await e.encryption.unlock(PASS4);
      for (const x of [a, c, d, e]) await x.close();
    },
    ARGON2_HEAVY,
  );
});

describe('history and exports', () => {
  it(
    'shows the history decrypted; exports readable, or encrypted with a passphrase',
    async () => {
      const { username, a } = await encryptedAccount('e2e-export');
      await a.entries.put('note', { title: 'first draft' });
      await a.sync.syncNow();
      const photo = randomBytes(3000);
      await a.attachments.upload('pic', new Blob([photo]), { contentType: 'image/jpeg' });
      await a.entries.put('note', { title: 'secret note', photos: [{ id: 'pic' }] });
      await a.sync.syncNow();
      const history = await a.entries.history('note');
      expect(history.map((v) => v.content)).toEqual([
        { title: 'secret note', photos: [{ id: 'pic' }] },
        { title: 'first draft' },
      ]);

      const plain = unzipSync(new Uint8Array(await (await a.exportAll()).arrayBuffer()));
      const entries = JSON.parse(new TextDecoder().decode(plain['entries.json'])) as unknown[];
      expect(entries).toEqual([
        expect.objectContaining({
          id: 'note',
          content: { title: 'secret note', photos: [{ id: 'pic' }] },
        }),
      ]);
      expect(Buffer.from(plain['attachments/pic'] as Uint8Array).equals(photo)).toBe(true);
      const listed = JSON.parse(new TextDecoder().decode(plain['attachments.json'])) as unknown[];
      expect(listed).toEqual([expect.objectContaining({ id: 'pic', contentType: 'image/jpeg' })]);

      const sealed = await a.exportAll({ passphrase: 'export passphrase' });
      expect(new TextDecoder().decode(await sealed.slice(0, 8).arrayBuffer())).toBe('JRNLE2E1');
      expect(Buffer.from(await sealed.arrayBuffer()).toString('latin1')).not.toContain('secret');

      const other = newClient(stack.gateway);
      await other.auth.register({ username: `${username}_2`, password: PASSWORD });
      await expect(importJournal(other, sealed)).rejects.toEqual(code('passphrase_required'));
      await expect(importJournal(other, sealed, { passphrase: 'not it' })).rejects.toEqual(
        code('wrong_passphrase'),
      );
      const summary = await importJournal(other, sealed, { passphrase: 'export passphrase' });
      expect(summary).toMatchObject({ format: 'journal', added: 1, attachments: 1 });
      expect((await other.entries.get('note'))?.content).toEqual({
        title: 'secret note',
        photos: [{ id: 'pic' }],
      });
      const back = await other.attachments.download('pic');
      expect(Buffer.from(await back.arrayBuffer()).equals(photo)).toBe(true);
      // A locked device cannot export what it cannot read.
      const locked = await device(username);
      await expect(locked.exportAll()).rejects.toEqual(code('encryption_locked'));
      for (const x of [a, other, locked]) await x.close();
    },
    ARGON2_HEAVY,
  );
});
