import { MemoryStore, MemoryTokenStore } from '@journal/client';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import {
  accessToken,
  bytesOf,
  contents,
  isEnvelopeText,
  PASS1,
  PASS2,
  randomPhoto,
  sameBytes,
  signIn,
} from './encryption-helpers.js';
import { newClient, PASSWORD, uniqueUser } from './helpers.js';

/**
 * Turning encryption on for a journal that has data (docs/encryption.md "Turning it on for an
 * existing journal"): a migration stopped half-way resumes on the same store, and ends with no
 * plaintext left on the server; another device cannot start a second one while it runs.
 */

let stack: TestStack;
let mongo: MongoClient;
beforeAll(async () => {
  stack = await startTestStack('sdk-e2e-migration');
  mongo = new MongoClient(stack.options.mongoUrl);
  await mongo.connect();
});
afterAll(async () => {
  await stack?.stop();
  await mongo?.db(stack.options.dbName).dropDatabase();
  await mongo?.close();
});

const ENTRIES = 40;

/** An account with ENTRIES entries (two of them naming a photo) and the photo. */
async function journalWithData(label: string) {
  const username = uniqueUser(label);
  const store = new MemoryStore();
  const tokenStore = new MemoryTokenStore();
  const options = { store, tokenStore, deviceId: 'laptop', sync: { batchSize: 4 } };
  const a = newClient(stack.gateway, options);
  await a.auth.register({ username, password: PASSWORD });
  const photo = randomPhoto(50_000);
  await a.attachments.upload('photo', photo.blob, { contentType: 'image/jpeg' });
  for (let i = 0; i < ENTRIES; i++) {
    const photos = i < 2 ? ['photo'] : [];
    await a.entries.put(`e${String(i).padStart(2, '0')}`, { i, text: `entry ${i}`, photos });
  }
  await a.sync.syncNow();
  return { username, a, options, photo };
}

async function serverVersions(userId: string) {
  return mongo.db(stack.options.dbName).collection('entry_versions').find({ userId }).toArray();
}

describe('migrating a journal to end-to-end encryption', () => {
  it('stopped during the entries phase, resumes on the same store and leaves no plaintext', async () => {
    const { username, a, options, photo } = await journalWithData('e2e-resume');
    const userId = (await a.auth.me()).id;
    const before = await contents(a);
    // Stop the client as soon as the entries phase has pushed something.
    const stopped = new Promise<void>((resolve) => {
      a.on('encryption', (e) => {
        if (e.migration?.phase === 'entries' && e.migration.done > 0) resolve();
      });
    });
    await a.encryption.enable({ passphrase: PASS1, accountPassword: PASSWORD });
    await stopped;
    await a.close();
    expect(
      (await serverVersions(userId)).some((v) => v.content && !isEnvelopeText(v.content)),
    ).toBe(true);

    // The same device opens again: its keys are in the store, the migration goes on.
    const a2 = newClient(stack.gateway, options);
    const phases: string[] = [];
    a2.on('encryption', (e) => e.migration && phases.push(e.migration.phase));
    await a2.encryption.resume();
    expect(a2.encryption.state).toBe('unlocked');
    expect(a2.encryption.migrating).toBe(false);
    expect(phases).toContain('done');

    // Nothing in plaintext remains: every version an envelope or emptied, both finish calls 200.
    for (const v of await serverVersions(userId)) {
      if (v.content !== null) expect(isEnvelopeText(v.content)).toBe(true);
    }
    const headers = { authorization: `Bearer ${accessToken(options.tokenStore)}` };
    for (const path of ['/sync/encryption/finish', '/attachments/encryption/finish']) {
      const res = await fetch(`${stack.gateway}${path}`, { method: 'POST', headers });
      expect(res.status, path).toBe(200);
    }
    // Same journal, read on a new device; the photo replaced by an encrypted copy.
    const b = await signIn(stack.gateway, username);
    await b.client.encryption.unlock(PASS1);
    await b.client.sync.syncNow();
    const after = await contents(b.client);
    const copy = String((after[0]?.[1] as { photos?: string[] } | undefined)?.photos?.[0]);
    expect(copy).not.toBe('photo');
    const rename = (c: unknown) => JSON.parse(JSON.stringify(c).replaceAll('"photo"', `"${copy}"`));
    expect(after).toEqual(before.map(([id, c]) => [id, rename(c)]));
    expect(sameBytes(await bytesOf(await b.client.attachments.download(copy)), photo.bytes)).toBe(
      true,
    );
    expect((await b.client.attachments.list()).map((x) => x.id)).toEqual([copy]);
    await a2.close();
    await b.client.close();
  });

  it('a second device cannot turn it on again while the first migrates; it waits on the lease', async () => {
    const { username, a } = await journalWithData('e2e-lease');
    const b = (await signIn(stack.gateway, username, { deviceId: 'phone' })).client;
    await b.sync.syncNow();
    const entered = new Promise<void>((resolve) => {
      a.on('encryption', (e) => e.migration?.phase === 'entries' && resolve());
    });
    await a.encryption.enable({ passphrase: PASS1 });
    await entered;
    await expect(b.encryption.enable({ passphrase: PASS2 })).rejects.toMatchObject({
      code: 'encryption_already_enabled',
    });
    expect(b.encryption.state).toBe('locked');
    await b.encryption.unlock(PASS1);
    expect(b.encryption.migrating).toBe(true);
    // B's resume waits for A's migration (A holds the lease) and ends when the bundle is on;
    // B runs no step of its own.
    const bSteps: string[] = [];
    b.on('encryption', (e) => e.migration && bSteps.push(e.migration.phase));
    let aFinishing = 0;
    a.on('encryption', (e) => {
      if (e.migration?.phase === 'finishing' && !aFinishing) aFinishing = Date.now();
    });
    await b.encryption.resume();
    const bDone = Date.now();
    await a.encryption.resume();
    expect(aFinishing).toBeGreaterThan(0);
    expect(bDone).toBeGreaterThan(aFinishing);
    expect(bSteps).toEqual([]);
    expect(b.encryption.migrating).toBe(false);
    await b.sync.syncNow();
    expect(await contents(b)).toEqual(await contents(a));
    await a.close();
    await b.close();
  });
});
