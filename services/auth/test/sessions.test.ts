import { sessionKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashRefreshToken } from '../src/tokens/refresh-repository.js';
import { type AuthApp, authHarness, bearer, login, newUser, PASSWORD } from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('sessions');
  app = (await h.build()).app;
});
afterAll(() => h.close());

const refresh = (refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } });
const me = (accessToken: string) =>
  app.inject({ method: 'GET', url: '/auth/me', headers: bearer(accessToken) });
const logout = (accessToken: string, payload?: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/auth/logout',
    headers: { ...bearer(accessToken), ...headers },
    ...(payload === undefined ? {} : { payload: payload as string }),
  });
const listSessions = (accessToken: string) =>
  app.inject({ method: 'GET', url: '/auth/sessions', headers: bearer(accessToken) });
const sid = (accessToken: string): string =>
  JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString()).sid;

describe('live session state in Redis', () => {
  it('writes the session key under the key prefix with the access token lifetime', async () => {
    const { session } = await newUser(app, 'laptop');
    const key = `${h.keyPrefix}${sessionKey(sid(session.accessToken))}`;
    expect(JSON.parse((await h.rawRedis.get(key)) as string)).toEqual({
      userId: session.user.id,
      deviceName: 'laptop',
    });
    const ttl = await h.rawRedis.ttl(key);
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('refuses a valid access token whose session is not live in Redis', async () => {
    const { session } = await newUser(app);
    await h.redis.del(sessionKey(sid(session.accessToken)));
    const res = await me(session.accessToken);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('unauthorized');
  });
});

describe('refresh', () => {
  it('rotates: returns a new pair, the new tokens work, and the key TTL is renewed', async () => {
    const { session } = await newUser(app);
    const key = sessionKey(sid(session.accessToken));
    await h.redis.expire(key, 10);
    const res = await refresh(session.refreshToken);
    expect(res.statusCode).toBe(200);
    const next = res.json();
    expect(next).toMatchObject({ user: session.user, tokenType: 'Bearer', expiresIn: 3600 });
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect(sid(next.accessToken)).toBe(sid(session.accessToken));
    expect(await h.redis.ttl(key)).toBeGreaterThan(3590);
    expect((await me(next.accessToken)).statusCode).toBe(200);
    expect((await refresh(next.refreshToken)).statusCode).toBe(200);
  });

  it('stores refresh tokens only as SHA-256 hashes', async () => {
    const { session } = await newUser(app);
    const docs = await h.db
      .collection('refresh_tokens')
      .find({ userId: session.user.id } as never)
      .toArray();
    expect(docs).toHaveLength(1);
    expect(docs[0]?.tokenHash).toBe(hashRefreshToken(session.refreshToken));
    expect(JSON.stringify(docs)).not.toContain(session.refreshToken);
  });

  it('rejects a reused refresh token and revokes the session at once', async () => {
    const { session } = await newUser(app);
    const first = (await refresh(session.refreshToken)).json();
    const reuse = await refresh(session.refreshToken);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json().code).toBe('unauthorized');
    // The whole session is gone: the newest access token and refresh token too.
    expect((await me(first.accessToken)).statusCode).toBe(401);
    expect((await refresh(first.refreshToken)).statusCode).toBe(401);
    expect(await h.redis.exists(sessionKey(sid(first.accessToken)))).toBe(0);
    const doc = await h.db.collection('sessions').findOne({ _id: sid(first.accessToken) } as never);
    expect(doc?.revokedAt).toBeInstanceOf(Date);
    expect(doc?.revokedReason).toBe('refresh_token_reuse');
    const revocation = await h.db
      .collection('session_revocations')
      .findOne({ _id: sid(first.accessToken) } as never);
    expect(revocation).toMatchObject({ userId: session.user.id, reason: 'refresh_token_reuse' });
  });

  it('lets exactly one of two concurrent refreshes with the same token succeed', async () => {
    for (let round = 0; round < 3; round++) {
      const { session } = await newUser(app);
      const results = await Promise.all([
        refresh(session.refreshToken),
        refresh(session.refreshToken),
      ]);
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401]);
      // The loser looked like reuse, so the session is revoked, the winner's tokens included.
      const winner = results.find((r) => r.statusCode === 200)?.json();
      expect((await me(winner.accessToken)).statusCode).toBe(401);
      expect((await refresh(winner.refreshToken)).statusCode).toBe(401);
    }
  });

  it('lets exactly one of five concurrent refreshes succeed and leaves nothing live', async () => {
    for (let round = 0; round < 5; round++) {
      const { session } = await newUser(app);
      const results = await Promise.all(
        Array.from({ length: 5 }, () => refresh(session.refreshToken)),
      );
      const codes = results.map((r) => r.statusCode);
      expect(codes.filter((c) => c === 200)).toHaveLength(1);
      expect(codes.filter((c) => c === 401)).toHaveLength(4);
      // The revocation raced with the winner's writes and still won: no live key, no token.
      expect(await h.redis.exists(sessionKey(sid(session.accessToken)))).toBe(0);
      const winner = results.find((r) => r.statusCode === 200)?.json();
      expect((await refresh(winner.refreshToken)).statusCode).toBe(401);
    }
  });

  it('answers 401 for an unknown, expired or malformed refresh token', async () => {
    expect((await refresh('A'.repeat(43))).statusCode).toBe(401);
    const { session } = await newUser(app);
    await h.db
      .collection('refresh_tokens')
      .updateOne({ tokenHash: hashRefreshToken(session.refreshToken) } as never, {
        $set: { expiresAt: new Date(Date.now() - 1000) },
      });
    const expired = await refresh(session.refreshToken);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().code).toBe('unauthorized');
    for (const refreshToken of [{ $ne: null }, 'short', 42, '']) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refreshToken } as never,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    }
    const extra = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refreshToken: session.refreshToken, userId: 'someone-else' },
    });
    expect(extra.statusCode).toBe(400);
  });

  it('answers 401 for the refresh token of a logged-out session', async () => {
    const { session } = await newUser(app);
    expect((await logout(session.accessToken)).statusCode).toBe(204);
    const res = await refresh(session.refreshToken);
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('unauthorized');
  });

  it('never mixes one user’s access token with another user’s refresh token', async () => {
    const alice = (await newUser(app)).session;
    const bob = (await newUser(app)).session;
    // Bob's refresh token presented with Alice's access token refreshes Bob's session only.
    const res = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: bearer(alice.accessToken),
      payload: { refreshToken: bob.refreshToken },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().user).toEqual(bob.user);
    expect(sid(res.json().accessToken)).toBe(sid(bob.accessToken));
    expect((await me(alice.accessToken)).json()).toEqual(alice.user);
    // Alice's own refresh token still works: her session was not touched.
    expect((await refresh(alice.refreshToken)).json().user).toEqual(alice.user);
  });
});

describe('logout', () => {
  it('ends the session: the very next request with its access token is 401', async () => {
    const { session } = await newUser(app);
    expect((await me(session.accessToken)).statusCode).toBe(200);
    const res = await logout(session.accessToken);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect((await me(session.accessToken)).statusCode).toBe(401);
    expect((await logout(session.accessToken)).statusCode).toBe(401);
  });

  it('accepts no body, an empty JSON body and {} alike', async () => {
    const variants: [unknown, Record<string, string>][] = [
      [undefined, {}],
      ['', { 'content-type': 'application/json' }],
      ['{}', { 'content-type': 'application/json' }],
      ['{"allDevices":false}', { 'content-type': 'application/json' }],
    ];
    for (const [payload, headers] of variants) {
      const { session } = await newUser(app);
      const res = await logout(session.accessToken, payload, headers);
      expect(res.statusCode, String(payload)).toBe(204);
      expect((await me(session.accessToken)).statusCode).toBe(401);
    }
  });

  it('rejects a bad logout body with 400 and keeps the session', async () => {
    const { session } = await newUser(app);
    for (const [payload, code] of [
      ['{"allDevices":"yes"}', 'validation_failed'],
      ['{"allDevices":true,"extra":1}', 'validation_failed'],
      ['{"allDevices":{"$ne":false}}', 'validation_failed'],
      ['{"allDevices":', 'invalid_json'],
    ] as const) {
      const res = await logout(session.accessToken, payload, {
        'content-type': 'application/json',
      });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().code).toBe(code);
    }
    expect((await me(session.accessToken)).statusCode).toBe(200);
  });

  it('requires a live bearer token', async () => {
    const res = await app.inject({ method: 'POST', url: '/auth/logout' });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('unauthorized');
  });

  it('with allDevices ends every session of the user and no one else’s', async () => {
    const { username, session: phone } = await newUser(app, 'phone');
    const laptop = (
      await login(app, { username, password: PASSWORD, deviceName: 'laptop' })
    ).json();
    const other = (await newUser(app)).session;
    const res = await logout(laptop.accessToken, { allDevices: true });
    expect(res.statusCode).toBe(204);
    for (const s of [phone, laptop]) {
      expect((await me(s.accessToken)).statusCode).toBe(401);
      expect((await refresh(s.refreshToken)).statusCode).toBe(401);
    }
    expect((await me(other.accessToken)).statusCode).toBe(200);
    expect((await refresh(other.refreshToken)).statusCode).toBe(200);
  });
});

describe('session list', () => {
  it('lists live sessions with device names and marks the caller’s as current', async () => {
    const { username, session: phone } = await newUser(app, 'phone');
    const laptop = (
      await login(app, { username, password: PASSWORD, deviceName: 'laptop' })
    ).json();
    const tablet = (await login(app, { username, password: PASSWORD })).json();
    await logout(tablet.accessToken);

    const res = await listSessions(laptop.accessToken);
    expect(res.statusCode).toBe(200);
    const { sessions } = res.json() as {
      sessions: { id: string; deviceName: string | null; current: boolean }[];
    };
    expect(sessions).toHaveLength(2);
    const byDevice = Object.fromEntries(sessions.map((s) => [s.deviceName, s]));
    expect(byDevice.laptop).toMatchObject({ id: sid(laptop.accessToken), current: true });
    expect(byDevice.phone).toMatchObject({ id: sid(phone.accessToken), current: false });
    for (const s of sessions) {
      expect(Object.keys(s).sort()).toEqual(
        ['createdAt', 'current', 'deviceName', 'id', 'lastUsedAt'].sort(),
      );
    }
  });

  it('answers deviceName null for a session without one and moves lastUsedAt on refresh', async () => {
    const { session } = await newUser(app);
    const before = (await listSessions(session.accessToken)).json().sessions[0];
    expect(before.deviceName).toBeNull();
    await new Promise((r) => setTimeout(r, 5));
    const next = (await refresh(session.refreshToken)).json();
    const after = (await listSessions(next.accessToken)).json().sessions[0];
    expect(after.createdAt).toBe(before.createdAt);
    expect(Date.parse(after.lastUsedAt)).toBeGreaterThan(Date.parse(before.lastUsedAt));
  });

  it('requires a bearer token', async () => {
    const res = await app.inject({ method: 'GET', url: '/auth/sessions' });
    expect(res.statusCode).toBe(401);
  });
});

describe('clean-up', () => {
  it('purges refresh tokens a week past expiry and expired sessions (where no TTL index does)', async () => {
    const { createRefreshTokensRepository } = await import('../src/tokens/refresh-repository.js');
    const { createSessionsRepository } = await import('../src/sessions/repository.js');
    const { session } = await newUser(app);
    const sessionId = sid(session.accessToken);
    const tokens = h.db.collection('refresh_tokens');
    const hash = hashRefreshToken(session.refreshToken);
    await tokens.updateOne({ tokenHash: hash } as never, {
      $set: { expiresAt: new Date(Date.now() - 6 * 86_400_000) },
    });
    expect(await createRefreshTokensRepository(h.db).purgeExpired()).toBe(0);
    await tokens.updateOne({ tokenHash: hash } as never, {
      $set: { expiresAt: new Date(Date.now() - 8 * 86_400_000) },
    });
    expect(await createRefreshTokensRepository(h.db).purgeExpired()).toBe(1);
    expect(await tokens.countDocuments({ tokenHash: hash } as never)).toBe(0);

    await h.db
      .collection('sessions')
      .updateOne({ _id: sessionId } as never, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await listSessions(session.accessToken)).json().sessions).toEqual([]);
    expect(
      await createSessionsRepository(h.db, 30 * 86_400_000).purgeExpired(),
    ).toBeGreaterThanOrEqual(1);
    expect(await h.db.collection('sessions').countDocuments({ _id: sessionId } as never)).toBe(0);
  });
});
