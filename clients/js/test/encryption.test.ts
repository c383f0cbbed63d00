import { type DecryptionError, JournalError, MemoryTokenStore } from '@journal/client';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import {
  accessToken,
  bytesOf,
  contents,
  device,
  encryptedAccount,
  isEnvelopeText,
  PASS1,
  PASS2,
  PASS3,
  randomPhoto,
  sameBytes,
  signIn,
} from './encryption-helpers.js';
import { newClient, PASSWORD, uniqueUser } from './helpers.js';

/**
 * End-to-end encryption through the SDK against the real services (docs/encryption.md): turning
 * it on, locked and unlocked devices, passphrase change and recovery, the race of two devices
 * turning it on, what the server stores, and what it cannot make a device accept.
 */

let stack: TestStack;
let mongo: MongoClient;
beforeAll(async () => {
  // No recent changes in Redis: every pull reads MongoDB, where the swap test writes.
  stack = await startTestStack('sdk-e2e', { SYNC_RECENT_CHANGES: '0' });
  mongo = new MongoClient(stack.options.mongoUrl);
  await mongo.connect();
});
afterAll(async () => {
  await stack?.stop();
  await mongo?.db(stack.options.dbName).dropDatabase();
  await mongo?.close();
});

const versions = () => mongo.db(stack.options.dbName).collection('entry_versions');

describe('end-to-end encryption', () => {
  it('turns on for a journal with entries and an attachment; another device is locked until unlocked', async () => {
    const username = uniqueUser('e2e-on');
    const a = newClient(stack.gateway);
    await a.auth.register({ username, password: PASSWORD });
    expect(a.encryption.state).toBe('off');
    const photo = randomPhoto(300_000);
    await a.attachments.upload('photo1', photo.blob, { contentType: 'image/png' });
    await a.entries.put('e1', { title: 'one', photos: [{ id: 'photo1' }], note: 'photo1' });
    await a.entries.put('e2', { title: 'two' });
    await a.sync.syncNow();
    const b = await signIn(stack.gateway, username);
    await b.client.sync.syncNow();
    expect(b.client.encryption.state).toBe('off');

    await expect(
      a.encryption.enable({ passphrase: PASSWORD, accountPassword: PASSWORD }),
    ).rejects.toMatchObject({ code: 'passphrase_is_password' });
    const phases = new Set<string>();
    a.on('encryption', (e) => e.migration && phases.add(e.migration.phase));
    const { recoveryKey } = await a.encryption.enable({
      passphrase: PASS1,
      accountPassword: PASSWORD,
    });
    expect(recoveryKey.split(' ')).toHaveLength(24);
    expect(a.encryption.state).toBe('unlocked');
    await a.encryption.resume();
    expect(a.encryption.migrating).toBe(false);
    expect([...phases]).toEqual(['attachments', 'entries', 'finishing', 'done']);
    await expect(a.encryption.enable({ passphrase: PASS2 })).rejects.toMatchObject({
      code: 'encryption_already_enabled',
    });

    // The photo was replaced by an encrypted copy, and the entry names the copy.
    const e1 = await a.entries.get('e1');
    const copy = String((e1?.content?.photos as { id: string }[] | undefined)?.[0]?.id);
    expect(copy).not.toBe('photo1');
    expect(e1?.content?.note).toBe(copy);
    const listed = await a.attachments.list();
    expect(listed.map((x) => [x.id, x.contentType])).toEqual([
      [copy, 'application/vnd.journal.encrypted'],
    ]);
    const back = await a.attachments.download(copy);
    expect(back.type).toBe('image/png');
    expect(sameBytes(await bytesOf(back), photo.bytes)).toBe(true);

    // B, which synced in plaintext before, learns it at its next push: locked, edits kept.
    await b.client.entries.put('b1', { from: 'b' });
    await b.client.sync.syncNow();
    expect(b.client.encryption.state).toBe('locked');
    expect(b.client.sync.status).toBe('locked');
    expect(await b.client.entries.pendingCount()).toBe(1);
    await expect(b.client.encryption.unlock('not the passphrase')).rejects.toMatchObject({
      code: 'wrong_passphrase',
    });
    await b.client.encryption.unlock(PASS1);
    await b.client.sync.syncNow();
    await a.sync.syncNow();
    expect(await b.client.entries.pendingCount()).toBe(0);
    expect(await contents(b.client)).toEqual(await contents(a));
    expect((await a.entries.get('b1'))?.content).toEqual({ from: 'b' });

    // A new device is locked at sign-in: it neither pulls nor pushes, its edits wait.
    const c = await signIn(stack.gateway, username);
    expect(c.client.encryption.state).toBe('locked');
    await c.client.entries.put('c1', { from: 'c' });
    await c.client.sync.syncNow();
    expect(await contents(c.client)).toEqual([['c1', { from: 'c' }]]);
    expect(await c.client.entries.pendingCount()).toBe(1);
    // The live loop waits too, and goes at once when unlocked.
    c.client.sync.start();
    await expect.poll(() => c.client.sync.status).toBe('locked');
    await c.client.encryption.unlock(PASS1);
    await expect.poll(() => c.client.entries.pendingCount()).toBe(0);
    await expect.poll(async () => (await contents(c.client)).length).toBe(4);
    for (const x of [a, b.client, c.client]) await x.close();
  });

  it('a passphrase change reaches every device without a prompt; old passphrase refused; recovery sets a new one', async () => {
    const { username, a, recoveryKey } = await encryptedAccount(stack.gateway, 'e2e-pass');
    await a.entries.put('x', { v: 1 });
    await a.sync.syncNow();
    const b = await signIn(stack.gateway, username);
    await b.client.encryption.unlock(PASS1);
    await b.client.sync.syncNow();
    const c = await signIn(stack.gateway, username); // stays locked, knows only PASS1

    // B is away while A changes the passphrase.
    await b.client.close();
    await expect(a.encryption.changePassphrase('wrong', PASS2)).rejects.toMatchObject({
      code: 'wrong_passphrase',
    });
    await a.encryption.changePassphrase(PASS1, PASS2);

    // B reopens on its store: unlocked from its own keys, adopts the new bundle, no prompt.
    const b2 = device(stack.gateway, { store: b.store, tokenStore: b.tokenStore });
    await b2.client.entries.put('y', { v: 2 });
    await b2.client.sync.syncNow();
    expect(b2.client.encryption.state).toBe('unlocked');
    expect(await b2.client.encryption.refresh()).toBe('unlocked');
    await a.sync.syncNow();
    expect((await a.entries.get('y'))?.content).toEqual({ v: 2 });

    // C tries the old passphrase: refused once; the new one opens it.
    await expect(c.client.encryption.unlock(PASS1)).rejects.toMatchObject({
      code: 'wrong_passphrase',
    });
    await c.client.encryption.unlock(PASS2);
    await c.client.sync.syncNow();
    expect(await contents(c.client)).toEqual(await contents(a));

    // A fresh device with only the recovery key sets a new passphrase.
    const d = await signIn(stack.gateway, username);
    await expect(
      d.client.encryption.recover('not twenty four words', PASS3),
    ).rejects.toBeInstanceOf(JournalError);
    await d.client.encryption.recover(recoveryKey, PASS3);
    expect(d.client.encryption.state).toBe('unlocked');
    await d.client.sync.syncNow();
    expect(await contents(d.client)).toEqual(await contents(a));
    const e = await signIn(stack.gateway, username);
    await expect(e.client.encryption.unlock(PASS2)).rejects.toMatchObject({
      code: 'wrong_passphrase',
    });
    await e.client.encryption.unlock(PASS3);
    // The unlocked devices go on as before.
    await a.entries.put('z', { v: 3 });
    await a.sync.syncNow();
    await b2.client.sync.syncNow();
    expect((await b2.client.entries.get('z'))?.content).toEqual({ v: 3 });

    // lock() forgets the keys here: nothing goes until unlocked again.
    await a.encryption.lock();
    expect(a.encryption.state).toBe('locked');
    await a.entries.put('w', { v: 4 });
    await a.sync.syncNow();
    expect(await a.entries.pendingCount()).toBe(1);
    await a.encryption.unlock(PASS3);
    await a.sync.syncNow();
    expect(await a.entries.pendingCount()).toBe(0);
    for (const x of [a, b2.client, c.client, d.client, e.client]) await x.close();
    // Twelve Argon2id derivations (64 MiB, t=3): over 30 s on a loaded 2-core machine.
  }, 180_000);

  it('two devices turning it on at once make one bundle; the loser unlocks with the winner’s passphrase', async () => {
    const username = uniqueUser('e2e-race');
    const x = newClient(stack.gateway);
    await x.auth.register({ username, password: PASSWORD });
    const y = (await signIn(stack.gateway, username)).client;
    const results = await Promise.allSettled([
      x.encryption.enable({ passphrase: PASS1 }),
      y.encryption.enable({ passphrase: PASS2 }),
    ]);
    const won = results.findIndex((r) => r.status === 'fulfilled');
    expect(won).toBeGreaterThanOrEqual(0);
    const lost = results[1 - won] as PromiseRejectedResult;
    expect(lost.status).toBe('rejected');
    expect(lost.reason).toMatchObject({ code: 'encryption_already_enabled' });
    const [winner, loser] = won === 0 ? [x, y] : [y, x];
    expect(loser.encryption.state).toBe('locked');
    await expect(loser.encryption.unlock(won === 0 ? PASS2 : PASS1)).rejects.toMatchObject({
      code: 'wrong_passphrase',
    });
    await loser.encryption.unlock(won === 0 ? PASS1 : PASS2);
    await winner.encryption.resume();
    const user = await winner.auth.me();
    const bundles = await mongo
      .db(stack.options.dbName)
      .collection('encryption_bundles')
      .find({ userId: user.id })
      .toArray();
    expect(bundles).toHaveLength(1);
    await loser.entries.put('from-loser', { ok: true });
    await loser.sync.syncNow();
    await winner.sync.syncNow();
    expect((await winner.entries.get('from-loser'))?.content).toEqual({ ok: true });
    await x.close();
    await y.close();
  });

  it('the server keeps envelopes only; a swapped envelope is reported, not accepted; plaintext is refused', async () => {
    const { username, a } = await encryptedAccount(stack.gateway, 'e2e-server');
    for (const id of ['e1', 'e2', 'e3']) await a.entries.put(id, { id, secret: `text of ${id}` });
    await a.sync.syncNow();
    const userId = (await a.auth.me()).id;
    const stored = await versions().find({ userId }).toArray();
    expect(stored.length).toBeGreaterThanOrEqual(3);
    for (const v of stored) {
      expect(v.clientUpdatedAt).toBeNull();
      if (!v.deleted) expect(isEnvelopeText(v.content as string)).toBe(true);
      expect(String(v.content)).not.toContain('text of');
    }

    // The server swaps the envelopes of e1 and e2.
    const one = await versions().findOne({ userId, id: 'e1' });
    const two = await versions().findOne({ userId, id: 'e2' });
    await versions().updateOne({ userId, id: 'e1' }, { $set: { content: two?.content } });
    await versions().updateOne({ userId, id: 'e2' }, { $set: { content: one?.content } });
    const f = await signIn(stack.gateway, username);
    const reported: DecryptionError[] = [];
    f.client.on('decryptionFailed', (err) => reported.push(err));
    await f.client.encryption.unlock(PASS1);
    await f.client.sync.syncNow();
    expect(reported.map((err) => err.code)).toEqual(['decryption_failed', 'decryption_failed']);
    const failed = f.client.encryption.failures();
    expect(failed.map((err) => err.entryId).sort()).toEqual(['e1', 'e2']);
    expect(await contents(f.client)).toEqual([['e3', { id: 'e3', secret: 'text of e3' }]]);
    // Sync goes on: a new version of e1 decrypts and clears its failure.
    await a.entries.put('e1', { id: 'e1', secret: 'rewritten' });
    await a.sync.syncNow();
    await f.client.sync.syncNow();
    expect((await f.client.entries.get('e1'))?.content).toEqual({ id: 'e1', secret: 'rewritten' });
    expect(f.client.encryption.failures().map((err) => err.entryId)).toEqual(['e2']);

    // An old client sending plaintext (raw HTTP) is refused, as is a plaintext upload.
    const tokens = new MemoryTokenStore();
    await newClient(stack.gateway, { tokenStore: tokens }).auth.login({
      username,
      password: PASSWORD,
    });
    const headers = { authorization: `Bearer ${accessToken(tokens)}` };
    const push = await fetch(`${stack.gateway}/sync/push`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': 'old-1' },
      body: JSON.stringify({
        deviceId: 'old-app',
        changes: [{ id: 'old', baseRevision: 0, content: { title: 'plain' } }],
      }),
    });
    expect(push.status).toBe(403);
    expect(((await push.json()) as { code: string }).code).toBe('encryption_required');
    const upload = await fetch(`${stack.gateway}/attachments/plain1`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'image/png' },
      body: new Uint8Array(100),
    });
    expect(upload.status).toBe(403);
    await a.close();
    await f.client.close();
  });
});
