/**
 * The SDK's product features against a real stack: `pending` and `progress` events (no
 * polling), an entry's history and restoring a version (it syncs like any edit), importing the
 * SDK's own export into another account (a full round trip) and a Day One export (twice: once),
 * and forgetting the device's copy of the journal (IndexedDB deleted). Prints the import speed.
 */

import { IndexedDbStore, importJournal, type JournalClient, JournalError } from '@journal/client';
import { IDBFactory } from 'fake-indexeddb';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { eventually, newClient, PASSWORD, uniqueUser } from './helpers.js';

let stack: TestStack;
const clients: JournalClient[] = [];

beforeAll(async () => {
  stack = await startTestStack('sdk-product');
}, 240_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stack?.stop();
});

async function device(username: string, register = false, options = {}) {
  const c = newClient(stack.gateway, { sync: { waitSeconds: 5 }, ...options });
  clients.push(c);
  const body = { username, password: PASSWORD, deviceName: `d${clients.length}` };
  await (register ? c.auth.register(body) : c.auth.login(body));
  return c;
}

const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('SDK product features', { timeout: 60_000 }, () => {
  it('emits pending counts and sync progress, so an app needs no polling', async () => {
    const c = await device(uniqueUser('ev'), true);
    const pending: number[] = [];
    const progress: string[] = [];
    c.on('pending', (e) => pending.push(e.count));
    c.on('progress', (e) => progress.push(e.phase));
    await c.entries.put('p1', { title: 'one' });
    await c.entries.put('p2', { title: 'two' });
    await eventually(() => pending.includes(2));
    await c.sync.syncNow();
    await eventually(() => pending.at(-1) === 0);
    expect(progress).toContain('push');
    expect(progress).toContain('pull');
    // Counts are reported when they change, not repeated.
    for (let i = 1; i < pending.length; i++) expect(pending[i]).not.toBe(pending[i - 1]);
  });

  it('lists an entry’s history and restores a version as a new edit that reaches another device', async () => {
    const username = uniqueUser('hist');
    const a = await device(username, true);
    const b = await device(username);
    await a.entries.put('plan', { title: 'one' });
    await a.sync.syncNow();
    await a.entries.put('plan', { title: 'two' });
    await a.sync.syncNow();
    await a.entries.put('plan', { title: 'three' });
    await a.sync.syncNow();
    const versions = await a.entries.history('plan');
    expect(versions.map((v) => [v.content?.title, v.current])).toEqual([
      ['three', true],
      ['two', false],
      ['one', false],
    ]);
    expect((await a.entries.history('plan', { limit: 2 })).length).toBe(2);
    const decoded = await a.entries.history('plan', {
      decode: (content) => ({ ...content, title: `decoded ${content.title}` }),
    });
    expect(decoded[0]?.content?.title).toBe('decoded three');

    const restored = await a.entries.restore('plan', versions[2] as (typeof versions)[0]);
    expect(restored.pending).toBe(true);
    await a.sync.syncNow();
    await b.sync.syncNow();
    expect((await b.entries.get('plan'))?.content).toEqual({ title: 'one' });
    expect((await b.entries.history('plan')).length).toBe(4);

    await expect(a.entries.history('../plan')).rejects.toMatchObject({ code: 'validation_failed' });
    await expect(a.entries.history('never-was')).rejects.toMatchObject({ code: 'not_found' });
    const stranger = await device(uniqueUser('stranger'), true);
    await expect(stranger.entries.history('plan')).rejects.toMatchObject({ code: 'not_found' });
    await expect(
      a.entries.restore('plan', { deleted: true, content: null }),
    ).rejects.toBeInstanceOf(JournalError);
  });

  it('imports its own export into another account: entries and attachments, once', async () => {
    const from = await device(uniqueUser('from'), true);
    await from.attachments.upload('pic-1', new Blob([new Uint8Array([1, 2, 3, 4])]), {
      contentType: 'image/png',
    });
    await from.entries.put('e1', {
      title: 'first',
      photos: [{ id: 'pic-1', contentType: 'image/png' }],
    });
    await from.entries.put('e2', { title: 'second', tags: ['x'] });
    await from.sync.syncNow();
    const zip = await from.exportAll();

    const to = await device(uniqueUser('to'), true);
    const phases = new Set<string>();
    const first = await importJournal(to, zip, { onProgress: (p) => phases.add(p.phase) });
    expect(first).toMatchObject({ format: 'journal', added: 2, skipped: 0, attachments: 1 });
    expect([...phases]).toEqual(['reading', 'photos', 'entries']);
    const again = await importJournal(to, zip);
    expect(again).toMatchObject({ added: 0, skipped: 2 });
    await to.sync.syncNow();
    expect((await to.entries.list()).map((e) => e.content?.title).sort()).toEqual([
      'first',
      'second',
    ]);
    const pic = await to.attachments.download('pic-1');
    expect(new Uint8Array(await pic.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(pic.type).toBe('image/png');
  });

  it('refuses a malformed file whole and imports nothing of it', async () => {
    const c = await device(uniqueUser('bad'), true);
    const bad = [
      new Blob(['not a zip']),
      new Blob([zipSync({ 'notes.txt': encode('hello') })]),
      new Blob([zipSync({ 'entries.json': new TextEncoder().encode('{oops') })]),
      new Blob([zipSync({ 'entries.json': encode([{ id: '../x', content: {} }]) })]),
      // The second entry is broken: the first is not imported either.
      new Blob([
        zipSync({
          'Journal.json': encode({
            entries: [
              { uuid: 'AAAA', creationDate: '2024-01-01T00:00:00Z', text: 'fine' },
              { uuid: 'BBBB', creationDate: 'yesterday', text: 'broken date' },
            ],
          }),
        }),
      ]),
    ];
    for (const file of bad) {
      await expect(importJournal(c, file)).rejects.toMatchObject({ code: 'validation_failed' });
    }
    expect(await c.entries.list()).toEqual([]);
  });

  it('imports a large Day One export quickly enough to report its speed', async () => {
    const c = await device(uniqueUser('speed'), true);
    const n = 1000;
    const entries = Array.from({ length: n }, (_, i) => ({
      uuid: `${i.toString(16).padStart(8, '0')}AAAABBBBCCCCDDDDEEEEFFFF`,
      creationDate: new Date(Date.UTC(2023, 0, 1) + i * 3_600_000).toISOString(),
      timeZone: ['Europe/Paris', 'Asia/Tokyo', 'America/New_York'][i % 3],
      text: `Day ${i}\nSomething happened on day ${i}.`,
      tags: [`t${i % 7}`],
    }));
    const zip = new Blob([zipSync({ 'Journal.json': encode({ entries }) })]);
    const started = performance.now();
    const summary = await importJournal(c, zip);
    const seconds = (performance.now() - started) / 1000;
    expect(summary.added).toBe(n);
    console.log(
      `import speed: ${n} Day One entries in ${seconds.toFixed(2)} s = ${Math.round(n / seconds)} entries/s (MemoryStore)`,
    );
    // The same into IndexedDB (fake-indexeddb: slower than a browser's, a lower bound).
    const idb = await device(uniqueUser('speedidb'), true, {
      store: new IndexedDbStore('journal', new IDBFactory()),
    });
    const idbStarted = performance.now();
    expect((await importJournal(idb, zip)).added).toBe(n);
    const idbSeconds = (performance.now() - idbStarted) / 1000;
    console.log(
      `import speed: ${n} Day One entries in ${idbSeconds.toFixed(2)} s = ${Math.round(n / idbSeconds)} entries/s (IndexedDbStore on fake-indexeddb)`,
    );
    await c.sync.syncNow();
    expect(await c.entries.pendingCount()).toBe(0);
    expect((await importJournal(c, zip)).skipped).toBe(n);
  });

  it('forgets the device’s copy of the journal: the IndexedDB database is deleted', async () => {
    const factory = new IDBFactory();
    const username = uniqueUser('forget');
    const c = await device(username, true, { store: new IndexedDbStore('journal', factory) });
    await c.entries.put('secret', { title: 'canary-forget' });
    await c.sync.syncNow();
    expect((await factory.databases()).map((d: { name?: string }) => d.name)).toContain('journal');
    const pending: number[] = [];
    c.on('pending', (e) => pending.push(e.count));
    await c.entries.put('later', { title: 'unsynced' });
    await c.forgetLocalData();
    expect((await factory.databases()).map((d: { name?: string }) => d.name)).not.toContain(
      'journal',
    );
    expect(await c.entries.list()).toEqual([]);
    expect(await c.entries.pendingCount()).toBe(0);
    await eventually(() => pending.at(-1) === 0);
    // Signed in still: syncing again brings the server's copy back.
    await c.sync.syncNow();
    expect((await c.entries.list()).map((e) => e.content?.title)).toEqual(['canary-forget']);
  });
});
