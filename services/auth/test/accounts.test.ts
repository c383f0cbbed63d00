import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthApp,
  authHarness,
  bearer,
  login,
  newUser,
  PASSWORD,
  register,
  username,
} from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('accounts');
  app = (await h.build()).app;
});
afterAll(() => h.close());

const PROBLEM = 'application/problem+json; charset=utf-8';

function expectProblem(
  res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown },
  status: number,
  code: string,
) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toBe(PROBLEM);
  expect(res.json()).toMatchObject({ status, code });
}

describe('register', () => {
  it('creates the user and answers 201 with a Session', async () => {
    const name = username('Ada.Lovelace');
    const res = await register(app, { username: name, password: PASSWORD, deviceName: 'Pixel 8' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(
      ['accessToken', 'deviceToken', 'expiresIn', 'refreshToken', 'tokenType', 'user'].sort(),
    );
    expect(body).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600, user: { username: name } });
    expect(Object.keys(body.user).sort()).toEqual(['createdAt', 'id', 'username']);
    expect(body.user.id).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    expect(new Date(body.user.createdAt).toISOString()).toBe(body.user.createdAt);
    expect(body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(body.accessToken.split('.')).toHaveLength(3);
  });

  it('stores the display name, a normalised name and only a scrypt hash of the password', async () => {
    const name = username('MiXeD');
    const res = await register(app, { username: name, password: PASSWORD });
    const doc = await h.db.collection('users').findOne({ _id: res.json().user.id } as never);
    expect(doc).toMatchObject({ username: name, usernameLower: name.toLowerCase() });
    expect(doc?.passwordHash).toMatch(
      /^scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/,
    );
    expect(JSON.stringify(doc)).not.toContain(PASSWORD);
  });

  it('answers 409 username_taken for the same name in another letter case', async () => {
    const name = username('Case');
    expect((await register(app, { username: name, password: PASSWORD })).statusCode).toBe(201);
    const res = await register(app, { username: name.toUpperCase(), password: 'another password' });
    expectProblem(res, 409, 'username_taken');
  });

  it('gives two concurrent registrations of one name exactly one account', async () => {
    const name = username('race');
    const results = await Promise.all([
      register(app, { username: name, password: PASSWORD }),
      register(app, { username: name.toUpperCase(), password: PASSWORD }),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409]);
  });
});

describe('login and me', () => {
  it('logs in case-insensitively and /auth/me answers the user', async () => {
    const { username: name, session } = await newUser(app);
    const res = await login(app, { username: name.toUpperCase(), password: PASSWORD });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ user: session.user, tokenType: 'Bearer', expiresIn: 3600 });
    const me = await app.inject({
      method: 'GET',
      url: '/auth/me',
      headers: bearer(res.json().accessToken),
    });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual(session.user);
  });

  it('answers unknown user and wrong password with the same 401 invalid_credentials', async () => {
    const { username: name } = await newUser(app);
    const wrong = await login(app, { username: name, password: 'wrong password!' });
    const unknown = await login(app, { username: username('ghost'), password: PASSWORD });
    expectProblem(wrong, 401, 'invalid_credentials');
    expectProblem(unknown, 401, 'invalid_credentials');
    const strip = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
    expect(strip(wrong.json() as never)).toEqual(strip(unknown.json() as never));
    expect(Object.keys(wrong.headers).sort()).toEqual(Object.keys(unknown.headers).sort());
  });

  it('requires a bearer token for /auth/me', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/auth/me' }), 401, 'unauthorized');
    expectProblem(
      await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: 'Basic x' } }),
      401,
      'unauthorized',
    );
  });
});

describe('hostile input', () => {
  const cases: [string, unknown][] = [
    ['operator in username', { username: { $gt: '' }, password: PASSWORD }],
    ['operator in password', { username: 'someone', password: { $ne: null } }],
    [
      'operator in deviceName',
      { username: 'someone', password: PASSWORD, deviceName: { $gt: '' } },
    ],
    ['username with operator text', { username: '$gt', password: PASSWORD }],
    ['number as username', { username: 12345, password: PASSWORD }],
    ['array as password', { username: 'someone', password: [PASSWORD] }],
    ['missing password', { username: 'someone' }],
    ['missing username', { password: PASSWORD }],
    ['short username', { username: 'ab', password: PASSWORD }],
    ['long username', { username: 'a'.repeat(65), password: PASSWORD }],
    ['username with space', { username: 'a b c', password: PASSWORD }],
    ['short password', { username: 'someone', password: 'short' }],
    ['long password', { username: 'someone', password: 'p'.repeat(257) }],
    ['unknown field', { username: 'someone', password: PASSWORD, admin: true }],
    [
      'control chars in deviceName',
      { username: 'someone', password: PASSWORD, deviceName: 'a\u0000b' },
    ],
    ['array body', [{ username: 'someone', password: PASSWORD }]],
  ];
  for (const [name, payload] of cases) {
    it(`answers 400 validation_failed for ${name}, on register and login`, async () => {
      for (const url of ['/auth/register', '/auth/login']) {
        const res = await app.inject({ method: 'POST', url, payload: payload as object });
        expectProblem(res, 400, 'validation_failed');
        expect((res.json() as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
      }
    });
  }

  it('answers malformed JSON with 400 invalid_json', async () => {
    for (const url of ['/auth/register', '/auth/login', '/auth/refresh']) {
      const res = await app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        payload: '{"username": "x",',
      });
      expectProblem(res, 400, 'invalid_json');
    }
  });

  it('refuses a 1 MB password cheaply, before any hashing', async () => {
    const started = performance.now();
    const res = await app.inject({
      method: 'POST',
      url: '/auth/login',
      payload: { username: 'someone', password: 'x'.repeat(1_000_000) },
    });
    expectProblem(res, 413, 'payload_too_large');
    const big = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'someone', password: 'x'.repeat(10_000) },
    });
    expectProblem(big, 400, 'validation_failed');
    // Refused by the body limit and the schema before any work: a loose bound (a busy machine).
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('never echoes the password in an error', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'x', password: 'S3cretPassw0rd!' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain('S3cretPassw0rd!');
  });
});
