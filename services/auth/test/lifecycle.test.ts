import { randomUUID } from 'node:crypto';
import { createAccountDeletions, sessionKey } from '@journal/shared';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWrite } from '../../../test-support/encryption.js';
import {
  type AuthApp,
  authHarness,
  bearer,
  login,
  newUser,
  PASSWORD,
  register,
  type SessionBody,
} from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('lifecycle');
  app = (
    await h.build({
      AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '3',
      AUTH_PASSWORD_CHECK_MAX_FAILURES_PER_SESSION: '3',
      AUTH_LOGIN_FAILURE_WINDOW_SECONDS: '120',
      // Sweeps are run by hand below.
      ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0',
      ACCOUNT_DELETION_SETTLE_SECONDS: '0',
    })
  ).app;
});
afterAll(() => h.close());

const me = (token: string) =>
  app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) });
const refresh = (refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } });
const changePassword = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/auth/password',
    headers: { ...bearer(token), ...headers },
    payload: payload as string,
  });
const revoke = (token: string, id: string) =>
  app.inject({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: bearer(token) });
const deleteAccount = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'DELETE',
    url: '/auth/account',
    headers: { ...bearer(token), ...headers },
    payload: payload as string,
  });
const sid = (accessToken: string): string =>
  JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString()).sid;

/** A user logged in on three devices. */
async function userWithThreeSessions() {
  const first = await newUser(app, 'phone');
  const more: SessionBody[] = [];
  for (const device of ['laptop', 'tablet']) {
    const res = await login(app, {
      username: first.username,
      password: PASSWORD,
      deviceName: device,
    });
    expect(res.statusCode).toBe(200);
    more.push(res.json());
  }
  return { username: first.username, sessions: [first.session, ...more] };
}

function expectProblem(
  res: Awaited<ReturnType<typeof me>>,
  status: number,
  code: string,
): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, code });
  return body;
}

/** Hostile bodies every password-carrying call must refuse with 400, never 5xx. */
const HOSTILE_BODIES = (field: string) => [
  {},
  { [field]: { $gt: '' } },
  { [field]: 12345678 },
  { [field]: null },
  { [field]: ['correct horse battery staple'] },
  { [field]: 'x'.repeat(257) },
  { [field]: PASSWORD, extra: true },
];

describe('POST /auth/password', () => {
  it('changes the password, ends every other session at once and keeps the caller’s', async () => {
    const { username, sessions } = await userWithThreeSessions();
    const [caller, other1, other2] = sessions as [SessionBody, SessionBody, SessionBody];
    const res = await changePassword(caller.accessToken, {
      currentPassword: PASSWORD,
      newPassword: 'a brand new passphrase',
    });
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');

    for (const other of [other1, other2]) {
      expectProblem(await me(other.accessToken), 401, 'unauthorized');
      expectProblem(await refresh(other.refreshToken), 401, 'unauthorized');
      expect(await h.redis.exists(sessionKey(sid(other.accessToken)))).toBe(0);
    }
    expect((await me(caller.accessToken)).statusCode).toBe(200);
    expect((await refresh(caller.refreshToken)).statusCode).toBe(200);

    expectProblem(await login(app, { username, password: PASSWORD }), 401, 'invalid_credentials');
    expect((await login(app, { username, password: 'a brand new passphrase' })).statusCode).toBe(
      200,
    );
  });

  it('leaves no session of a login with the old password that raced the change', async () => {
    // An app of its own on the same stores, whose per-name limit lets a burst of logins in.
    const racy = (
      await h.build({
        AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '1000',
        ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0',
      })
    ).app;
    const { username, session: caller } = await newUser(racy, 'phone');
    const logins = Array.from({ length: 12 }, (_, i) =>
      login(racy, { username, password: PASSWORD, deviceName: `racer ${i}` }),
    );
    const change = racy.inject({
      method: 'POST',
      url: '/auth/password',
      // Another client address than the racing logins': the hash gate shares slots per address.
      remoteAddress: '127.0.0.9',
      headers: bearer(caller.accessToken),
      payload: { currentPassword: PASSWORD, newPassword: 'raced new passphrase' },
    });
    const [changed, ...results] = await Promise.all([change, ...logins]);
    expect(changed.statusCode).toBe(204);
    for (const res of results) {
      // 429: one address's burst beyond its share of the hash gate (issue 15).
      expect([200, 401, 429]).toContain(res.statusCode);
      if (res.statusCode === 200) expect((await me(res.json().accessToken)).statusCode).toBe(401);
    }
    const listed = await racy.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: bearer(caller.accessToken),
    });
    expect(listed.json().sessions.map((s: { id: string }) => s.id)).toEqual([
      sid(caller.accessToken),
    ]);
    expect((await login(racy, { username, password: 'raced new passphrase' })).statusCode).toBe(
      200,
    );
  });

  it('answers 401 invalid_credentials to a wrong current password and changes nothing', async () => {
    const { username, sessions } = await userWithThreeSessions();
    const [caller, other] = sessions as [SessionBody, SessionBody];
    expectProblem(
      await changePassword(caller.accessToken, {
        currentPassword: 'not the password',
        newPassword: 'another passphrase',
      }),
      401,
      'invalid_credentials',
    );
    expect((await me(other.accessToken)).statusCode).toBe(200);
    expect((await login(app, { username, password: PASSWORD })).statusCode).toBe(200);
  });

  it('limits wrong current passwords per session (429, Retry-After)', async () => {
    const { session } = await newUser(app);
    const wrong = { currentPassword: 'wrong wrong wrong', newPassword: 'whatever whatever' };
    for (let i = 0; i < 3; i++) {
      expectProblem(await changePassword(session.accessToken, wrong), 401, 'invalid_credentials');
    }
    const limited = await changePassword(session.accessToken, {
      currentPassword: PASSWORD,
      newPassword: 'whatever whatever',
    });
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(120);
  });

  it('refuses hostile and malformed bodies with 400 and a too-short new password', async () => {
    const { session } = await newUser(app);
    const bodies = [
      ...HOSTILE_BODIES('currentPassword').map((b) => ({ newPassword: 'long enough pw', ...b })),
      { currentPassword: PASSWORD, newPassword: 'short' },
      { currentPassword: PASSWORD, newPassword: { $gt: '' } },
      { currentPassword: PASSWORD },
    ];
    for (const body of bodies) {
      expectProblem(await changePassword(session.accessToken, body), 400, 'validation_failed');
    }
    expectProblem(
      await changePassword(session.accessToken, '{"currentPassword":', {
        'content-type': 'application/json',
      }),
      400,
      'invalid_json',
    );
    const huge = await changePassword(session.accessToken, {
      currentPassword: PASSWORD,
      newPassword: 'x'.repeat(64 * 1024),
    });
    expect(huge.statusCode).toBe(413);
    expect((await me(session.accessToken)).statusCode).toBe(200);
  });

  it('refuses missing, forged, expired and revoked tokens with 401', async () => {
    const body = { currentPassword: PASSWORD, newPassword: 'a different passphrase' };
    expectProblem(
      await app.inject({ method: 'POST', url: '/auth/password', payload: body }),
      401,
      'unauthorized',
    );
    const { session } = await newUser(app);
    const [head, payload] = session.accessToken.split('.');
    expect((await changePassword(`${head}.${payload}.AAAA`, body)).statusCode).toBe(401);
    const { privateKey } = await import('jose').then((j) =>
      j.generateKeyPair('EdDSA', { crv: 'Ed25519' }),
    );
    const forged = await new SignJWT({ sid: sid(session.accessToken) })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'test-signing-key' })
      .setSubject(session.user.id)
      .setIssuer('journal-auth')
      .setAudience('journal')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    expect((await changePassword(forged, body)).statusCode).toBe(401);
    await app.inject({ method: 'POST', url: '/auth/logout', headers: bearer(session.accessToken) });
    expectProblem(await changePassword(session.accessToken, body), 401, 'unauthorized');
  });
});

describe('DELETE /auth/sessions/{id}', () => {
  it('ends exactly that session: its tokens are refused at once, the others stay', async () => {
    const { sessions } = await userWithThreeSessions();
    const [caller, target, bystander] = sessions as [SessionBody, SessionBody, SessionBody];
    const listed = await app.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: bearer(caller.accessToken),
    });
    const ids = listed.json().sessions.map((s: { id: string }) => s.id);
    expect(ids).toContain(sid(target.accessToken));

    const res = await revoke(caller.accessToken, sid(target.accessToken));
    expect(res.statusCode, res.body).toBe(204);
    expectProblem(await me(target.accessToken), 401, 'unauthorized');
    expectProblem(await refresh(target.refreshToken), 401, 'unauthorized');
    expect((await me(caller.accessToken)).statusCode).toBe(200);
    expect((await me(bystander.accessToken)).statusCode).toBe(200);

    // Ended already: no longer a session of the user.
    expectProblem(await revoke(caller.accessToken, sid(target.accessToken)), 404, 'not_found');
  });

  it('lets the caller end its own session', async () => {
    const { session } = await newUser(app);
    expect((await revoke(session.accessToken, sid(session.accessToken))).statusCode).toBe(204);
    expectProblem(await me(session.accessToken), 401, 'unauthorized');
    expectProblem(await refresh(session.refreshToken), 401, 'unauthorized');
  });

  it('answers 404 for another user’s session and leaves it alone', async () => {
    const alice = await newUser(app);
    const bob = await newUser(app);
    expectProblem(
      await revoke(alice.session.accessToken, sid(bob.session.accessToken)),
      404,
      'not_found',
    );
    expect((await me(bob.session.accessToken)).statusCode).toBe(200);
  });

  it('answers 404 for unknown ids and 4xx for path tricks, never 5xx', async () => {
    const { session } = await newUser(app);
    expectProblem(await revoke(session.accessToken, randomUUID()), 404, 'not_found');
    for (const trick of ['..%2F..%2Fauth%2Fme', '%24gt', 'a'.repeat(65), '%00', 'a%20b']) {
      const res = await revoke(session.accessToken, trick);
      expect(res.statusCode, trick).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, trick).toBeLessThan(500);
    }
    expect((await me(session.accessToken)).statusCode).toBe(200);
    expectProblem(
      await app.inject({ method: 'DELETE', url: `/auth/sessions/${sid(session.accessToken)}` }),
      401,
      'unauthorized',
    );
  });
});

describe('DELETE /auth/account', () => {
  it('answers 401 invalid_credentials to a wrong password and deletes nothing', async () => {
    const { username, sessions } = await userWithThreeSessions();
    const [caller] = sessions as [SessionBody];
    expectProblem(
      await deleteAccount(caller.accessToken, { password: 'not the password' }),
      401,
      'invalid_credentials',
    );
    for (const s of sessions) expect((await me(s.accessToken)).statusCode).toBe(200);
    expect((await login(app, { username, password: PASSWORD })).statusCode).toBe(200);
    expect(
      await h.db.collection('account_deletions').countDocuments({ _id: caller.user.id } as never),
    ).toBe(0);
  });

  it('refuses hostile bodies with 400 and limits wrong passwords with 429', async () => {
    const { session } = await newUser(app);
    for (const body of HOSTILE_BODIES('password')) {
      expectProblem(await deleteAccount(session.accessToken, body), 400, 'validation_failed');
    }
    const noBody = await app.inject({
      method: 'DELETE',
      url: '/auth/account',
      headers: bearer(session.accessToken),
    });
    expectProblem(noBody, 400, 'validation_failed');
    const emptyJson = await app.inject({
      method: 'DELETE',
      url: '/auth/account',
      headers: { ...bearer(session.accessToken), 'content-type': 'application/json' },
      payload: '',
    });
    expect(emptyJson.statusCode).toBe(400);
    expectProblem(
      await deleteAccount(session.accessToken, 'password=x', {
        'content-type': 'application/x-www-form-urlencoded',
      }),
      415,
      'unsupported_media_type',
    );
    for (let i = 0; i < 3; i++) {
      await deleteAccount(session.accessToken, { password: 'wrong wrong' });
    }
    expectProblem(
      await deleteAccount(session.accessToken, { password: PASSWORD }),
      429,
      'rate_limited',
    );
    expect((await me(session.accessToken)).statusCode).toBe(200);
  });

  it('before the 202: ends every session, stops the credentials and frees the username', async () => {
    const { username, sessions } = await userWithThreeSessions();
    const [caller] = sessions as [SessionBody];
    const userId = caller.user.id;
    const before = Date.now();
    const res = await deleteAccount(caller.accessToken, { password: PASSWORD });
    expect(res.statusCode, res.body).toBe(202);
    const { deletedAt } = res.json();
    expect(Object.keys(res.json())).toEqual(['deletedAt']);
    expect(new Date(deletedAt).toISOString()).toBe(deletedAt);
    expect(Date.parse(deletedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(deletedAt)).toBeLessThanOrEqual(Date.now());

    for (const s of sessions) {
      expectProblem(await me(s.accessToken), 401, 'unauthorized');
      expectProblem(await refresh(s.refreshToken), 401, 'unauthorized');
    }
    expectProblem(await login(app, { username, password: PASSWORD }), 401, 'invalid_credentials');
    expectProblem(
      await deleteAccount(caller.accessToken, { password: PASSWORD }),
      401,
      'unauthorized',
    );

    const again = await register(app, { username, password: 'someone else entirely' });
    expect(again.statusCode).toBe(201);
    expect(again.json().user.id).not.toBe(userId);
    const listed = await app.inject({
      method: 'GET',
      url: '/auth/sessions',
      headers: bearer(again.json().accessToken),
    });
    expect(listed.json().sessions).toHaveLength(1);
  });

  it('the sweep leaves nothing of the user in auth’s collections or Redis, and repeats harmlessly', async () => {
    const { username, sessions } = await userWithThreeSessions();
    const [caller] = sessions as [SessionBody];
    const userId = caller.user.id;
    // A wrong login leaves a counter keyed by the name; the gateway's per-user counter by id.
    await login(app, { username, password: 'wrong password here' });
    await h.redis.set(`ratelimit:user:${userId}`, '3');
    // End-to-end encryption on: a key bundle and the account's encryption record.
    const enabled = await app.inject({
      method: 'PUT',
      url: '/auth/encryption',
      headers: bearer(caller.accessToken),
      payload: { expectedVersion: 0, bundle: bundleWrite() },
    });
    expect(enabled.statusCode, enabled.body).toBe(200);
    const requested = await metric('auth_account_deletions_requested_total');
    expect((await deleteAccount(caller.accessToken, { password: PASSWORD })).statusCode).toBe(202);
    expect(await metric('auth_account_deletions_requested_total')).toBe(requested + 1);

    for (let i = 0; i < 2; i++) await app.auth.deletion.sweeper.runOnce();
    for (const name of [
      'users',
      'sessions',
      'session_revocations',
      'refresh_tokens',
      'encryption_bundles',
      'account_encryption',
    ]) {
      const docs = await h.db.collection(name).find({}).toArray();
      expect(JSON.stringify(docs), name).not.toContain(userId);
    }
    // Sessions' revocations stay, by session id only, so their tokens stay refused.
    const revoked = await h.db
      .collection('session_revocations')
      .countDocuments({ _id: { $in: sessions.map((s) => sid(s.accessToken)) } } as never);
    expect(revoked).toBe(3);
    const keys = await h.rawRedis.keys(`${h.keyPrefix}*`);
    const values = await Promise.all(
      keys.map(
        async (k) =>
          `${k}=${(await h.rawRedis.type(k)) === 'string' ? await h.rawRedis.get(k) : ''}`,
      ),
    );
    expect(values.join('\n')).not.toContain(userId);
    expect(keys.join('\n')).not.toContain(username.toLowerCase());
    // Auth's part is complete; the record waits for sync and attachments.
    expect(
      await h.db
        .collection('account_deletion_done')
        .countDocuments({ _id: `auth:${userId}` } as never),
    ).toBe(1);
    expect(await metric('account_deletion_oldest_pending_seconds')).toBeGreaterThanOrEqual(0);
  });
});

describe('a deletion whose request died after recording it', () => {
  it('is carried out by auth’s sweep: sessions end, the user and the name go', async () => {
    const { username, sessions } = await userWithThreeSessions();
    const userId = (sessions[0] as SessionBody).user.id;
    // Auth died right after inserting the record: nothing else of the request ran.
    await createAccountDeletions(h.db).request(userId, username.toLowerCase());
    for (const s of sessions) expect((await me(s.accessToken)).statusCode).toBe(200);

    await app.auth.deletion.sweeper.runOnce();
    for (const s of sessions) {
      expectProblem(await me(s.accessToken), 401, 'unauthorized');
      expectProblem(await refresh(s.refreshToken), 401, 'unauthorized');
    }
    expectProblem(await login(app, { username, password: PASSWORD }), 401, 'invalid_credentials');
    const again = await register(app, { username, password: 'the name is free again' });
    expect(again.statusCode).toBe(201);
    expect(again.json().user.id).not.toBe(userId);
  });
});

async function metric(name: string): Promise<number> {
  const text = await app.metrics.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}
