import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope } from '../../../test-support/encryption.js';
import type { SyncApp } from '../src/app.js';
import { bearer, type Harness, newUserId, pull, push, syncHarness } from './helpers.js';

/**
 * Sync's part of end-to-end encryption (docs/encryption.md): once an account has its encryption
 * record, a push with any plaintext content is refused whole before anything is written, and
 * `POST /sync/encryption/finish` drops the plaintext the server still keeps (replaced versions,
 * the recent changes in Redis) or lists the entries still in plaintext.
 */
let h: Harness;
let app: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_encryption');
  app = await h.build();
});
afterAll(() => h.close());

async function user() {
  const userId = newUserId('e2e');
  return { userId, token: await h.token(userId) };
}

/** What auth writes when the account's first key bundle is stored. */
async function turnOn(userId: string) {
  await h.db
    .collection('account_encryption')
    .insertOne({ _id: userId, since: new Date() } as never);
}

const finish = (token: string | undefined, payload?: unknown) =>
  app.inject({
    method: 'POST',
    url: '/sync/encryption/finish',
    headers: token ? bearer(token) : {},
    ...(payload === undefined ? {} : { payload: payload as string }),
  });
const usage = async (token: string) =>
  (await app.inject({ method: 'GET', url: '/sync/usage', headers: bearer(token) })).json();
const versionsOf = (userId: string) =>
  h.db.collection('entry_versions').find({ userId }).sort({ revision: 1 }).toArray();

/** Every key of the user in Redis, with its value(s), as text. */
async function redisText(userId: string): Promise<string> {
  const keys = (await h.rawRedis.keys(`${h.keyPrefix}*`)).filter((k) => k.includes(userId));
  const parts = await Promise.all(
    keys.map(async (k) => {
      const type = await h.rawRedis.type(k);
      if (type === 'zset') return `${k}=${(await h.rawRedis.zrange(k, 0, -1)).join(',')}`;
      if (type === 'hash') return `${k}=${JSON.stringify(await h.rawRedis.hgetall(k))}`;
      return `${k}=${type === 'string' ? await h.rawRedis.get(k) : ''}`;
    }),
  );
  return parts.join('\n');
}

describe('pushes of an encrypted account', () => {
  it('plaintext is accepted before encryption is on, refused whole after: nothing stored', async () => {
    const { userId, token } = await user();
    const before = await push(app, token, [{ id: 'a', baseRevision: 0, content: { t: 'plain' } }]);
    expect(before.res.statusCode).toBe(200);
    await turnOn(userId);
    const revision = (await pull(app, token)).body.revision;
    const quota = await usage(token);
    const stored = await versionsOf(userId);

    const refused = await push(app, token, [{ id: 'b', baseRevision: 0, content: { t: 'no' } }], {
      headers: { 'idempotency-key': 'k-refused' },
    });
    expect(refused.res.statusCode, refused.res.body).toBe(403);
    expect(refused.res.json()).toMatchObject({ code: 'encryption_required', entries: ['b'] });
    expect((await pull(app, token)).body.revision).toBe(revision);
    expect(await usage(token)).toEqual(quota);
    expect(await versionsOf(userId)).toEqual(stored);
    // The key was not claimed: the same key with envelopes is a new push, applied.
    const env = envelope();
    const accepted = await push(app, token, [{ id: 'b', baseRevision: 0, content: env }], {
      headers: { 'idempotency-key': 'k-refused' },
    });
    expect(accepted.res.statusCode, accepted.res.body).toBe(200);
    expect(accepted.body.accepted).toEqual([{ id: 'b', revision: revision + 1 }]);
  });

  it('stores envelopes and serves them back byte for byte; deletions pass', async () => {
    const { userId, token } = await user();
    await turnOn(userId);
    const env = envelope('Xk3mQ9vTz0A', 700);
    const res = await push(app, token, [{ id: 'e', baseRevision: 0, content: env }]);
    expect(res.res.statusCode, res.res.body).toBe(200);
    const pulled = await pull(app, token);
    expect(pulled.res.body).toContain(`"content":${JSON.stringify(env)}`);
    expect(pulled.body.changes[0]?.content).toEqual(env);
    const deleted = await push(app, token, [{ id: 'e', baseRevision: 1, deleted: true }]);
    expect(deleted.res.statusCode).toBe(200);
    expect(deleted.body.accepted).toEqual([{ id: 'e', revision: 2 }]);
  });

  it('refuses a push mixing envelopes and plaintext, or near-envelopes, as a whole', async () => {
    const { userId, token } = await user();
    await turnOn(userId);
    const near = [
      { t: 'plain' },
      {},
      { ...envelope(), extra: 1 },
      { ...envelope(), v: 2 },
      { ...envelope(), alg: 'aes-256-gcm' },
      { ...envelope(), ct: { $gt: '' } },
      { ...envelope(), n: 'short' },
      { ...envelope(), ct: 'AAAA' },
    ];
    for (const content of near) {
      const res = await push(app, token, [
        { id: 'ok', baseRevision: 0, content: envelope() },
        { id: 'bad', baseRevision: 0, content },
      ]);
      expect(res.res.statusCode, JSON.stringify(content)).toBe(403);
      expect(res.res.json()).toMatchObject({ code: 'encryption_required', entries: ['bad'] });
    }
    expect(await versionsOf(userId)).toEqual([]);
    expect((await pull(app, token)).body.changes).toEqual([]);
  });
});

describe('POST /sync/encryption/finish', () => {
  it('answers 409 encryption_not_enabled without encryption, 401 without a token, 400 for a body', async () => {
    const { token, userId } = await user();
    const res = await finish(token);
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('encryption_not_enabled');
    expect((await finish(undefined)).statusCode).toBe(401);
    expect((await finish('forged.token.here')).statusCode).toBe(401);
    await turnOn(userId);
    expect((await finish(token, {})).statusCode).toBe(200);
    for (const body of [{ $gt: '' }, { purge: true }, [], 1]) {
      const bad = await finish(token, body);
      expect(bad.statusCode, JSON.stringify(body)).toBe(400);
      expect(bad.json().code).toBe('validation_failed');
    }
    expect((await finish(token, 'x')).json().code).toBe('unsupported_media_type');
  });

  it('lists the plaintext entries, then drops every plaintext version once they are envelopes', async () => {
    const canary = `canary-${randomUUID()}`;
    const { userId, token } = await user();
    const bob = await user();
    const bobCanary = `bob-${randomUUID()}`;
    // Two entries with plaintext history, a third deleted, bob's untouched throughout.
    await push(app, token, [
      { id: 'x', baseRevision: 0, content: { text: `${canary} x1` } },
      { id: 'y', baseRevision: 0, content: { text: `${canary} y1` } },
      { id: 'z', baseRevision: 0, content: { text: `${canary} z1` } },
    ]);
    await push(app, token, [
      { id: 'x', baseRevision: 1, content: { text: `${canary} x2` } },
      { id: 'z', baseRevision: 3, deleted: true },
    ]);
    await push(app, bob.token, [{ id: 'b', baseRevision: 0, content: { text: bobCanary } }]);
    await push(app, bob.token, [{ id: 'b', baseRevision: 1, content: { text: `${bobCanary}2` } }]);
    await pull(app, token, 'since=0&limit=10');
    expect(await redisText(userId)).toContain(canary);
    await turnOn(userId);

    const listed = await finish(token);
    expect(listed.statusCode, listed.body).toBe(409);
    expect(listed.json()).toMatchObject({ code: 'plaintext_remaining', entries: ['y', 'x'] });
    // Nothing was dropped.
    expect(JSON.stringify(await versionsOf(userId)).split(canary).length - 1).toBe(4);

    await push(app, token, [{ id: 'y', baseRevision: 2, content: envelope() }]);
    const still = await finish(token);
    expect(still.json()).toMatchObject({ code: 'plaintext_remaining', entries: ['x'] });
    await push(app, token, [{ id: 'x', baseRevision: 4, content: envelope() }]);
    // A replaced version whose mark a dying push never wrote is found all the same.
    await h.db
      .collection('entry_versions')
      .updateOne(
        { userId, id: 'x', revision: 4 },
        { $unset: { superseded: '', supersededAt: '' } },
      );

    const done = await finish(token);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({ purgedVersions: 4 });
    const everything = await h.db.collection('entry_versions').find({}).toArray();
    expect(JSON.stringify(everything)).not.toContain(canary);
    expect(await redisText(userId)).not.toContain(canary);
    // Bob's plaintext (not encrypted) is his, untouched in MongoDB and Redis.
    expect(JSON.stringify(everything).split(bobCanary).length - 1).toBe(2);
    await pull(app, bob.token, 'since=0&limit=10');
    expect(await redisText(bob.userId)).toContain(bobCanary);

    // The history shows envelopes, and replaced versions without content.
    for (const id of ['x', 'y', 'z']) {
      const history = await app.inject({
        method: 'GET',
        url: `/sync/entries/${id}/versions`,
        headers: bearer(token),
      });
      expect(history.statusCode).toBe(200);
      expect(history.body).not.toContain(canary);
      for (const v of history.json().versions) {
        if (v.current && !v.deleted)
          expect(Object.keys(v.content).sort()).toEqual(['alg', 'ct', 'kid', 'n', 'v']);
        else expect(v.content).toBeNull();
      }
    }
    // Pulls from the start serve the envelopes (and the tombstone) from MongoDB.
    const page = await pull(app, token, 'since=0&limit=100');
    expect(page.res.body).not.toContain(canary);
    expect(page.body.changes.map((c) => c.id).sort()).toEqual(['x', 'y', 'z']);
    // Again: nothing left to drop.
    expect((await finish(token)).json()).toEqual({ purgedVersions: 0 });
  });

  it('does not list a plaintext version a later tombstone replaced', async () => {
    const { userId, token } = await user();
    await push(app, token, [{ id: 'gone', baseRevision: 0, content: { t: 'plain' } }]);
    await push(app, token, [{ id: 'gone', baseRevision: 1, deleted: true }]);
    await h.db
      .collection('entry_versions')
      .updateOne({ userId, revision: 1 }, { $unset: { superseded: '', supersededAt: '' } });
    await turnOn(userId);
    const res = await finish(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ purgedVersions: 1 });
    const [first] = await versionsOf(userId);
    expect(first).toMatchObject({ revision: 1, content: null, superseded: true });
  });
});
