import { randomBytes } from 'node:crypto';
import { generateKeyPair, importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthApp,
  authHarness,
  bearer,
  login,
  newUser,
  PASSWORD,
  type SessionBody,
} from './helpers.js';

/**
 * Lockouts a stranger cannot turn on the owner: the public per-username limit never refuses a
 * live session's password change or account deletion, nor a login from a device that holds a
 * device token; device tokens have their own limit and cannot be forged or borrowed.
 */
let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('device-tokens');
  app = (
    await h.build({
      // Behind the gateway: one trusted hop, so each test client's address is its own.
      TRUST_PROXY_HOPS: '1',
      AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '3',
      AUTH_LOGIN_MAX_FAILURES_PER_IP: '5',
      AUTH_LOGIN_MAX_FAILURES_PER_DEVICE_TOKEN: '3',
      AUTH_PASSWORD_CHECK_MAX_FAILURES_PER_SESSION: '2',
      AUTH_LOGIN_FAILURE_WINDOW_SECONDS: '120',
    })
  ).app;
}, 120_000);
afterAll(() => h.close());

type Reply = Awaited<ReturnType<typeof login>>;
type SignedIn = SessionBody & { deviceToken: string };

let ipCounter = 0;
/** A client address of its own, as the gateway (one trusted hop) forwards it. */
function from(): Record<string, string> {
  ipCounter += 1;
  return { 'x-forwarded-for': `198.51.100.${ipCounter}` };
}

function expectProblem(res: Reply, status: number, code: string) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
}

function expectRateLimited(res: Reply) {
  expectProblem(res, 429, 'rate_limited');
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(120);
}

/** A stranger guesses from many addresses until the username is locked for untrusted clients. */
async function lockOut(name: string) {
  for (let i = 0; i < 3; i++) {
    expectProblem(
      await login(app, { username: name, password: `stranger-guess-${i}` }, from()),
      401,
      'invalid_credentials',
    );
  }
  expectRateLimited(await login(app, { username: name, password: 'stranger-guess-x' }, from()));
  // The owner's right password from an untrusted client is refused too: the lock is on.
  expectRateLimited(await login(app, { username: name, password: PASSWORD }, from()));
}

/** A registered user signed in from a device: its session and device token. */
async function owner(): Promise<{ username: string; session: SignedIn }> {
  const { username, session } = await newUser(app, 'phone', from());
  const signedIn = session as SignedIn;
  expect(typeof signedIn.deviceToken).toBe('string');
  return { username, session: signedIn };
}

/** A device token signed with `key`, with the claims a real one has unless overridden. */
async function mint(
  key: Parameters<SignJWT['sign']>[0],
  claims: { sub: string; usr: string; exp?: number; iat?: number },
  header: { kid?: string; typ?: string } = {},
  audience = 'journal:device',
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ usr: claims.usr })
    .setProtectedHeader({
      alg: 'EdDSA',
      kid: header.kid ?? 'test-signing-key',
      typ: header.typ ?? 'device+jwt',
    })
    .setSubject(claims.sub)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuer('journal-auth')
    .setAudience(audience)
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 3600)
    .sign(key);
}

describe('a stranger exhausting the per-username lockout', () => {
  it('cannot stop a live session from changing the password', async () => {
    const { username, session } = await owner();
    await lockOut(username);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/password',
      headers: { ...bearer(session.accessToken), ...from() },
      payload: { currentPassword: PASSWORD, newPassword: 'a brand new passphrase' },
    });
    expect(res.statusCode, res.body).toBe(204);
    // The device logs in with the new password; the untrusted lock is still on for others.
    const again = await login(
      app,
      { username, password: 'a brand new passphrase', deviceToken: session.deviceToken },
      from(),
    );
    expect(again.statusCode, again.body).toBe(200);
    expectRateLimited(await login(app, { username, password: 'a brand new passphrase' }, from()));
  });

  it('cannot stop a live session from deleting the account', async () => {
    const { username, session } = await owner();
    await lockOut(username);
    const res = await app.inject({
      method: 'DELETE',
      url: '/auth/account',
      headers: { ...bearer(session.accessToken), ...from() },
      payload: { password: PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(202);
  });

  it('cannot stop a device holding a device token from logging in, from any address', async () => {
    const { username, session } = await owner();
    await lockOut(username);
    const first = await login(
      app,
      { username, password: PASSWORD, deviceToken: session.deviceToken },
      from(),
    );
    expect(first.statusCode, first.body).toBe(200);
    const next = first.json() as SignedIn;
    expect(next.user.id).toBe(session.user.id);
    expect(next.deviceToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(next.deviceToken).not.toBe(session.deviceToken);
    // The renewed token works too, and the username stays locked for untrusted clients.
    const second = await login(
      app,
      { username: username.toUpperCase(), password: PASSWORD, deviceToken: next.deviceToken },
      from(),
    );
    expect(second.statusCode, second.body).toBe(200);
    expectRateLimited(await login(app, { username, password: PASSWORD }, from()));
  });

  it('nor one sharing the stranger’s address, once the address is locked as well', async () => {
    const { username, session } = await owner();
    const shared = from();
    for (let i = 0; i < 6; i++) {
      await login(app, { username: `nobody${i}x`, password: 'stranger guess' }, shared);
    }
    expectRateLimited(await login(app, { username, password: PASSWORD }, shared));
    const res = await login(
      app,
      { username, password: PASSWORD, deviceToken: session.deviceToken },
      shared,
    );
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('device tokens that give no bypass', () => {
  it('a forged, expired, other user’s or access token is ignored: the lock stays', async () => {
    const { username, session } = await owner();
    const other = await owner();
    await lockOut(username);
    const realKey = await importPKCS8(h.signingKey, 'EdDSA');
    const { privateKey: strangerKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const now = Math.floor(Date.now() / 1000);
    const usr = username.toLowerCase();
    const signature = session.deviceToken.split('.')[2];
    const [otherHeader, otherPayload] = other.session.deviceToken.split('.');
    const candidates: Record<string, string> = {
      'signed by a stranger’s key': await mint(strangerKey, { sub: session.user.id, usr }),
      expired: await mint(realKey, { sub: session.user.id, usr, iat: now - 7200, exp: now - 60 }),
      'not a device token (typ)': await mint(
        realKey,
        { sub: session.user.id, usr },
        { typ: 'JWT' },
      ),
      'for another audience': await mint(realKey, { sub: session.user.id, usr }, {}, 'journal'),
      'another user’s': other.session.deviceToken,
      'an access token': session.accessToken,
      'another user’s claims under its signature': `${otherHeader}.${otherPayload}.${signature}`,
      'a real token with its signature cut': `${session.deviceToken.split('.').slice(0, 2).join('.')}.AAAA`,
      'well formed nonsense': 'a.b.c',
    };
    for (const [name, deviceToken] of Object.entries(candidates)) {
      const res = await login(app, { username, password: PASSWORD, deviceToken }, from());
      expect(res.statusCode, name).toBe(429);
    }
    // Its own token still works: the lock was never lifted by the candidates above.
    const own = await login(
      app,
      { username, password: PASSWORD, deviceToken: session.deviceToken },
      from(),
    );
    expect(own.statusCode, own.body).toBe(200);
  });

  it('a minted token with the right key is accepted, so the forgeries above fail for their flaw', async () => {
    const { username, session } = await owner();
    await lockOut(username);
    const realKey = await importPKCS8(h.signingKey, 'EdDSA');
    const token = await mint(realKey, { sub: session.user.id, usr: username.toLowerCase() });
    const res = await login(app, { username, password: PASSWORD, deviceToken: token }, from());
    expect(res.statusCode, res.body).toBe(200);
  });

  it('a token of an earlier account with the same username proves nothing for the new one', async () => {
    const { username, session } = await owner();
    const del = await app.inject({
      method: 'DELETE',
      url: '/auth/account',
      headers: bearer(session.accessToken),
      payload: { password: PASSWORD },
    });
    expect(del.statusCode, del.body).toBe(202);
    const again = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: from(),
      payload: { username, password: 'the new owner’s passphrase' },
    });
    expect(again.statusCode, again.body).toBe(201);
    const res = await login(
      app,
      { username, password: 'the new owner’s passphrase', deviceToken: session.deviceToken },
      from(),
    );
    expectProblem(res, 401, 'invalid_credentials');
  });
});

describe('a device token’s own failure limit', () => {
  it('locks that token out after its limit, leaving the username and other tokens alone', async () => {
    const { username, session } = await owner();
    const second = (await login(app, { username, password: PASSWORD }, from())).json() as SignedIn;
    for (let i = 0; i < 3; i++) {
      expectProblem(
        await login(
          app,
          { username, password: `wrong-${i}-password`, deviceToken: session.deviceToken },
          from(),
        ),
        401,
        'invalid_credentials',
      );
    }
    // Locked: even the right password is refused with this token, from any address.
    expectRateLimited(
      await login(app, { username, password: PASSWORD, deviceToken: session.deviceToken }, from()),
    );
    // Another device's token and an untrusted client are not affected by its failures.
    const other = await login(
      app,
      { username, password: PASSWORD, deviceToken: second.deviceToken },
      from(),
    );
    expect(other.statusCode, other.body).toBe(200);
    expect((await login(app, { username, password: PASSWORD }, from())).statusCode).toBe(200);
    // Its counter lives in Redis under the key prefix, with an expiry.
    const keys = await h.rawRedis.keys(`${h.keyPrefix}ratelimit:login-device:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(await h.rawRedis.pttl(key)).toBeGreaterThan(0);
  });

  it('forgets earlier failures after a successful login with the token', async () => {
    const { username, session } = await owner();
    const wrong = { username, password: 'wrong password', deviceToken: session.deviceToken };
    for (let i = 0; i < 2; i++) expect((await login(app, wrong, from())).statusCode).toBe(401);
    const ok = { username, password: PASSWORD, deviceToken: session.deviceToken };
    expect((await login(app, ok, from())).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await login(app, wrong, from())).statusCode).toBe(401);
    expectRateLimited(await login(app, ok, from()));
  });
});

describe('password checks of a live session', () => {
  it('are limited per session: a stolen token guesses a bounded number of times, the owner’s session still works', async () => {
    const { username, session: stolen } = await owner();
    const mine = (await login(app, { username, password: PASSWORD }, from())).json() as SignedIn;
    const change = (token: string, currentPassword: string) =>
      app.inject({
        method: 'POST',
        url: '/auth/password',
        headers: { ...bearer(token), ...from() },
        payload: { currentPassword, newPassword: 'the owner’s new passphrase' },
      });
    for (let i = 0; i < 2; i++) {
      expectProblem(
        await change(stolen.accessToken, `guess-${i}-guess`),
        401,
        'invalid_credentials',
      );
    }
    expectRateLimited(await change(stolen.accessToken, PASSWORD));
    const del = await app.inject({
      method: 'DELETE',
      url: '/auth/account',
      headers: bearer(stolen.accessToken),
      payload: { password: PASSWORD },
    });
    expectRateLimited(del);
    // Neither the public login limits nor the owner's own session were touched.
    expect((await login(app, { username, password: PASSWORD }, from())).statusCode).toBe(200);
    expect((await change(mine.accessToken, PASSWORD)).statusCode).toBe(204);
  });
});

describe('hostile input in deviceToken', () => {
  it('answers 400 validation_failed, never 5xx, and register takes no device token', async () => {
    const { username } = await owner();
    const bad: unknown[] = [
      12345,
      true,
      null,
      { $gt: '' },
      ['a.b.c'],
      '',
      'not-a-token',
      'a.b.c.d',
      'a.b.c\n',
      '../../etc/passwd',
      `${'a'.repeat(600)}.${'b'.repeat(600)}.c`,
    ];
    for (const deviceToken of bad) {
      const res = await login(app, { username, password: PASSWORD, deviceToken }, from());
      expectProblem(res, 400, 'validation_failed');
    }
    const huge = await login(
      app,
      { username, password: PASSWORD, deviceToken: 'x'.repeat(200_000) },
      from(),
    );
    expect([400, 413]).toContain(huge.statusCode);
    expect(huge.headers['content-type']).toMatch(/^application\/problem\+json/);
    const reg = await app.inject({
      method: 'POST',
      url: '/auth/register',
      headers: from(),
      payload: { username: `${username}x`, password: PASSWORD, deviceToken: 'a.b.c' },
    });
    expectProblem(reg, 400, 'validation_failed');
  });

  it('never logs a device token', async () => {
    const built = await h.build({ TRUST_PROXY_HOPS: '1' });
    const { session } = await newUser(built.app, undefined, from());
    const token = (session as SignedIn).deviceToken;
    const res = await login(
      built.app,
      { username: session.user.username, password: PASSWORD, deviceToken: token },
      from(),
    );
    expect(res.statusCode).toBe(200);
    const text = built.lines().join('\n');
    expect(text).not.toContain(token);
    expect(text).not.toContain((res.json() as SignedIn).deviceToken);
  });
});
