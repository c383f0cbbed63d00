import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64, bundleWrite, contentKey, envelope, KID } from '../../../test-support/encryption.js';
import { type AuthApp, authHarness, bearer, newUser } from './helpers.js';

/**
 * The key bundle of end-to-end encryption (docs/encryption.md, "The key bundle"): read, written
 * by compare-and-swap on its version, checked for shape, key parameters, dropped keys, state and
 * the migration lease; on the real MongoDB-wire server and Redis.
 */

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('encryption');
  app = (await h.build()).app;
});
afterAll(() => h.close());

const PROBLEM = 'application/problem+json; charset=utf-8';

const get = (token: string) =>
  app.inject({ method: 'GET', url: '/auth/encryption', headers: bearer(token) });
const put = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'PUT',
    url: '/auth/encryption',
    headers: { ...bearer(token), ...headers },
    payload: payload as string,
  });
const write = (token: string, expectedVersion: number, over: Record<string, unknown> = {}) =>
  put(token, { expectedVersion, bundle: bundleWrite(over) });

function expectProblem(res: Awaited<ReturnType<typeof get>>, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toBe(PROBLEM);
  expect(res.json()).toMatchObject({ status, code });
}

const bundles = () => h.db.collection('encryption_bundles');

async function fresh() {
  const { session } = await newUser(app);
  return { token: session.accessToken, userId: session.user.id };
}

describe('GET /auth/encryption', () => {
  it('answers enabled: false for an account that never turned it on', async () => {
    const { token } = await fresh();
    const res = await get(token);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ enabled: false });
  });

  it('answers 401 without a token, with a bad one, or a forged one', async () => {
    expectProblem(
      await app.inject({ method: 'GET', url: '/auth/encryption' }),
      401,
      'unauthorized',
    );
    expectProblem(await get('not-a-token'), 401, 'unauthorized');
    const { token } = await fresh();
    expectProblem(await get(`${token.slice(0, -4)}AAAA`), 401, 'unauthorized');
    expectProblem(
      await app.inject({ method: 'PUT', url: '/auth/encryption', payload: { expectedVersion: 0 } }),
      401,
      'unauthorized',
    );
  });
});

describe('PUT /auth/encryption', () => {
  it('creates version 1 (the lease for this device), which GET then answers', async () => {
    const { token, userId } = await fresh();
    const before = Date.now();
    const sent = bundleWrite();
    const res = await put(token, { expectedVersion: 0, bundle: sent });
    expect(res.statusCode, res.body).toBe(200);
    const stored = res.json();
    expect(stored).toMatchObject({
      version: 1,
      state: 'migrating',
      kdf: sent.kdf,
      passwordWrappedKey: sent.passwordWrappedKey,
      recoveryWrappedKey: sent.recoveryWrappedKey,
      contentKeys: sent.contentKeys,
      currentKid: KID,
      migration: { deviceId: 'device-a' },
    });
    const lease = Date.parse(stored.migration.leaseExpiresAt) - before;
    expect(lease).toBeGreaterThanOrEqual(119_000);
    expect(lease).toBeLessThanOrEqual(121_000 + (Date.now() - before));
    expect(stored.createdAt).toBe(stored.updatedAt);
    expect(await get(token).then((r) => r.json())).toEqual({ enabled: true, bundle: stored });
    // What sync and attachments read to refuse plaintext from now on.
    const record = await h.db.collection('account_encryption').findOne({ _id: userId } as never);
    expect(record?.since).toBeInstanceOf(Date);
  });

  it('answers 409 version_conflict with the current bundle to a stale expectedVersion', async () => {
    const { token } = await fresh();
    const first = (await write(token, 0)).json();
    for (const stale of [0, 2, 7]) {
      const res = await write(token, stale);
      expectProblem(res, 409, 'version_conflict');
      expect(res.json().current).toEqual(first);
    }
    const none = await fresh();
    const res = await write(none.token, 3);
    expectProblem(res, 409, 'version_conflict');
    expect(res.json().current).toBeNull();
  });

  it('of 10 concurrent creates of version 1, exactly one wins; one bundle is stored', async () => {
    const { token, userId } = await fresh();
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        write(token, 0, { migration: { deviceId: `device-${i}`, leaseSeconds: 60 } }),
      ),
    );
    const won = replies.filter((r) => r.statusCode === 200);
    expect(won).toHaveLength(1);
    for (const r of replies.filter((r) => r.statusCode !== 200)) {
      expectProblem(r, 409, 'version_conflict');
      // The loser learns the winner's key set (it then unlocks with the winner's passphrase).
      if (r.json().current) expect(r.json().current).toEqual(won[0]?.json());
    }
    expect(await bundles().countDocuments({ userId })).toBe(1);
    expect((await get(token)).json().bundle).toEqual(won[0]?.json());
  });

  it('a rewrap (version 2) replaces version 1, which is deleted', async () => {
    const { token, userId } = await fresh();
    const v1 = (await write(token, 0)).json();
    const rewrapped = envelope('password', 48);
    const res = await write(token, 1, { passwordWrappedKey: rewrapped });
    expect(res.statusCode, res.body).toBe(200);
    const v2 = res.json();
    expect(v2).toMatchObject({
      version: 2,
      passwordWrappedKey: rewrapped,
      createdAt: v1.createdAt,
    });
    const stored = await bundles().find({ userId }).toArray();
    expect(stored.map((d) => d._id)).toEqual([`${userId}:2`]);
    expect(JSON.stringify(stored)).not.toContain(v1.passwordWrappedKey.ct);
  });

  it('refuses another device while a live lease is held; takes over an expired one', async () => {
    const { token } = await fresh();
    expect((await write(token, 0)).statusCode).toBe(200); // device-a, 120 s
    const other = { migration: { deviceId: 'device-b', leaseSeconds: 60 } };
    const refused = await write(token, 1, other);
    expectProblem(refused, 409, 'migration_in_progress');
    expect(refused.json().migration.deviceId).toBe('device-a');
    // The holder renews with a 1 s lease, which then runs out.
    const renewed = await write(token, 1, { migration: { deviceId: 'device-a', leaseSeconds: 1 } });
    expect(renewed.statusCode, renewed.body).toBe(200);
    expectProblem(await write(token, 2, other), 409, 'migration_in_progress');
    await sleep(1_100);
    const taken = await write(token, 2, other);
    expect(taken.statusCode, taken.body).toBe(200);
    expect(taken.json().migration.deviceId).toBe('device-b');
    // The lease holder ends the migration: state on, no lease.
    const done = await write(token, 3, { state: 'on', migration: null });
    expect(done.json()).toMatchObject({ version: 4, state: 'on', migration: null });
  });

  it('refuses going back from on to migrating, and dropping a content key (400)', async () => {
    const { token } = await fresh();
    await write(token, 0, { state: 'on', migration: null });
    const back = await write(token, 1);
    expectProblem(back, 400, 'invalid_bundle_change');
    expect(back.json().errors).toEqual([{ path: 'bundle.state', message: 'must stay on' }]);
    // A new content key (rotation) keeps the old one: fine. Dropping the old one is not.
    const rotated = await write(token, 1, {
      state: 'on',
      migration: null,
      contentKeys: [contentKey(KID), contentKey('Nw4Kid00000')],
      currentKid: 'Nw4Kid00000',
    });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const dropped = await write(token, 2, {
      state: 'on',
      migration: null,
      contentKeys: [contentKey('Nw4Kid00000')],
      currentKid: 'Nw4Kid00000',
    });
    expectProblem(dropped, 400, 'invalid_bundle_change');
    expect(dropped.json().detail).toContain(KID);
    expect((await get(token)).json().bundle.version).toBe(2);
  });

  it('refuses weak or absurd key-derivation parameters (400)', async () => {
    const { token } = await fresh();
    const kdf = (over: Record<string, unknown>) => ({
      kdf: { alg: 'argon2id', salt: b64(16), m: 65_536, t: 3, p: 1, ...over },
    });
    for (const over of [
      { m: 1024, t: 1 },
      { m: 65_535 },
      { t: 2 },
      { p: 0 },
      { m: 2_097_152 },
      { t: 21 },
      { p: 5 },
      { alg: 'scrypt' },
      { salt: b64(8) },
      { m: 65_536.5 },
    ]) {
      expectProblem(await write(token, 0, kdf(over)), 400, 'validation_failed');
    }
    expect((await get(token)).json()).toEqual({ enabled: false });
  });

  it('refuses hostile and malformed bodies with 4xx, never storing anything', async () => {
    const { token, userId } = await fresh();
    const valid = bundleWrite();
    const cases: unknown[] = [
      {},
      { expectedVersion: 0 },
      { bundle: valid },
      { expectedVersion: '0', bundle: valid },
      { expectedVersion: -1, bundle: valid },
      { expectedVersion: 0.5, bundle: valid },
      { expectedVersion: { $gt: '' }, bundle: valid },
      { expectedVersion: 0, bundle: 'bundle' },
      { expectedVersion: 0, bundle: valid, extra: true },
      { expectedVersion: 0, bundle: { ...valid, extra: 1 } },
      { expectedVersion: 0, bundle: { ...valid, currentKid: { $gt: '' } } },
      { expectedVersion: 0, bundle: { ...valid, currentKid: 'not-listed' } },
      { expectedVersion: 0, bundle: { ...valid, state: 'off' } },
      { expectedVersion: 0, bundle: { ...valid, migration: undefined } },
      { expectedVersion: 0, bundle: { ...valid, migration: { deviceId: 'd', leaseSeconds: 301 } } },
      {
        expectedVersion: 0,
        bundle: { ...valid, migration: { deviceId: 'a\nb', leaseSeconds: 5 } },
      },
      { expectedVersion: 0, bundle: { ...valid, contentKeys: [] } },
      { expectedVersion: 0, bundle: { ...valid, contentKeys: [contentKey(KID), contentKey(KID)] } },
      {
        expectedVersion: 0,
        bundle: {
          ...valid,
          contentKeys: Array.from({ length: 65 }, (_, i) => contentKey(`k${i}`)),
        },
      },
      { expectedVersion: 0, bundle: { ...valid, passwordWrappedKey: { $gt: '' } } },
      {
        expectedVersion: 0,
        bundle: { ...valid, passwordWrappedKey: { ...envelope('password'), extra: 'x' } },
      },
      { expectedVersion: 0, bundle: { ...valid, passwordWrappedKey: { ...envelope(), v: 2 } } },
      {
        expectedVersion: 0,
        bundle: { ...valid, passwordWrappedKey: { ...envelope(), n: b64(12) } },
      },
      {
        expectedVersion: 0,
        bundle: { ...valid, passwordWrappedKey: { ...envelope(), ct: b64(15) } },
      },
      // Base64 with padding, or with bits a decoder drops: not what the SDK writes.
      {
        expectedVersion: 0,
        bundle: { ...valid, passwordWrappedKey: { ...envelope(), ct: 'AB==' } },
      },
      {
        expectedVersion: 0,
        bundle: { ...valid, passwordWrappedKey: { ...envelope(), ct: `${b64(18)}AB` } },
      },
      { expectedVersion: 0, bundle: { ...valid, kdf: { $gt: '' } } },
    ];
    for (const payload of cases) {
      const res = await put(token, payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 200)).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
    expectProblem(
      await put(token, '{"expectedVersion": 0,', { 'content-type': 'application/json' }),
      400,
      'invalid_json',
    );
    expectProblem(
      await put(token, 'expectedVersion=0', {
        'content-type': 'application/x-www-form-urlencoded',
      }),
      415,
      'unsupported_media_type',
    );
    expect(await bundles().countDocuments({ userId })).toBe(0);
  });

  it('takes a bundle above 16 KiB, refuses one above 64 KiB with 413', async () => {
    const { token } = await fresh();
    const many = Array.from({ length: 64 }, (_, i) => ({
      kid: `key${String(i).padStart(8, '0')}`,
      wrapped: envelope('master', 300),
    }));
    const big = {
      expectedVersion: 0,
      bundle: bundleWrite({ contentKeys: many, currentKid: 'key00000063' }),
    };
    expect(JSON.stringify(big).length).toBeGreaterThan(16 * 1024);
    const res = await put(token, big);
    expect(res.statusCode, res.body).toBe(200);
    const huge = {
      expectedVersion: 1,
      bundle: bundleWrite({
        contentKeys: [{ kid: 'key00000063', wrapped: envelope('master', 70_000) }, ...many],
        currentKid: 'key00000063',
      }),
    };
    expectProblem(await put(token, huge), 413, 'payload_too_large');
    expect((await get(token)).json().bundle.version).toBe(1);
  });

  it('never shows or changes another user’s bundle', async () => {
    const alice = await fresh();
    const bob = await fresh();
    const hers = (await write(alice.token, 0)).json();
    expect((await get(bob.token)).json()).toEqual({ enabled: false });
    // Bob's version 1 is his own: no conflict with hers, and hers is untouched.
    const his = await write(bob.token, 0);
    expect(his.statusCode).toBe(200);
    expect(his.json().passwordWrappedKey).not.toEqual(hers.passwordWrappedKey);
    expect((await get(alice.token)).json().bundle).toEqual(hers);
    expect(JSON.stringify((await get(bob.token)).json())).not.toContain(hers.recoveryWrappedKey.ct);
  });
});
