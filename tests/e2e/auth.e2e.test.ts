import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  expectNoSecretsIn,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

let stack: TestStack;
let api: Client;
const secrets: string[] = [];
const remember = (a: Account) => {
  secrets.push(a.password, a.accessToken, a.refreshToken);
  return a;
};

beforeAll(async () => {
  stack = await startTestStack('e2e-auth');
  api = client(stack.gateway);
});

afterAll(async () => {
  expectNoSecretsIn(stack.logs(), secrets);
  await stack.stop();
});

describe('auth through the gateway (docs/api.md)', () => {
  it('registers with 201 and a Session', async () => {
    const res = await api.post('/auth/register', {
      username: 'Alice.Example@x',
      password: 'correct horse battery',
      deviceName: 'phone',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      user: { username: 'Alice.Example@x' },
      tokenType: 'Bearer',
      expiresIn: 3600,
    });
    const body = res.body as {
      user: { id: string; createdAt: string };
      accessToken: string;
      refreshToken: string;
    };
    expect(typeof body.user.id).toBe('string');
    expect(new Date(body.user.createdAt).toISOString()).toBe(body.user.createdAt);
    expect(body.accessToken.split('.')).toHaveLength(3);
    expect(body.refreshToken.length).toBeGreaterThanOrEqual(32);
    secrets.push('correct horse battery', body.accessToken, body.refreshToken);
  });

  it('refuses a taken username case-insensitively with 409 username_taken', async () => {
    const res = await api.post('/auth/register', {
      username: 'alice.example@X',
      password: 'another password',
    });
    expectProblem(res, 409, 'username_taken');
  });

  it('validates register input with 400 validation_failed and the offending fields', async () => {
    const res = await api.post('/auth/register', { username: 'a', password: 'short' });
    expectProblem(res, 400, 'validation_failed');
    const paths = (res.body as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['password', 'username']);
    for (const bad of [
      { username: { $gt: '' }, password: 'longenough1' },
      { username: 'bob_ok', password: { $ne: null } },
      { username: 'bob ok', password: 'longenough1' },
      { username: 'bob_ok', password: 'x'.repeat(257) },
      { username: 'bob_ok' },
      [],
      'string',
    ]) {
      expectProblem(await api.post('/auth/register', bad), 400, 'validation_failed');
    }
    const malformed = await api.call('POST', '/auth/register', {
      body: '{"username":',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(malformed, 400, 'invalid_json');
  });

  it('answers unknown user and wrong password alike with 401 invalid_credentials', async () => {
    const a = remember(await registerUser(api, 'login'));
    const wrong = await api.post('/auth/login', {
      username: a.username,
      password: 'wrong-password',
    });
    const unknown = await api.post('/auth/login', {
      username: 'nobody_here_xyz',
      password: 'wrong-password',
    });
    expectProblem(wrong, 401, 'invalid_credentials');
    expectProblem(unknown, 401, 'invalid_credentials');
    const strip = (b: unknown) => {
      const { instance: _i, ...rest } = b as Record<string, unknown>;
      return rest;
    };
    expect(strip(wrong.body)).toEqual(strip(unknown.body));
    const ok = await api.post('/auth/login', {
      username: a.username.toUpperCase(),
      password: a.password,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ tokenType: 'Bearer', user: { id: a.userId } });
    secrets.push(
      (ok.body as { accessToken: string }).accessToken,
      (ok.body as { refreshToken: string }).refreshToken,
    );
  });

  it('serves /auth/me and /auth/sessions with the current session marked', async () => {
    const a = remember(await registerUser(api, 'me', 'laptop'));
    const me = await api.get('/auth/me', a.accessToken);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: a.userId, username: a.username, createdAt: expect.any(String) });
    const second = await api.post<{ accessToken: string; refreshToken: string }>('/auth/login', {
      username: a.username,
      password: a.password,
      deviceName: 'tablet',
    });
    secrets.push(second.body.accessToken, second.body.refreshToken);
    const sessions = await api.get<{
      sessions: { deviceName: string; current: boolean; lastUsedAt: string }[];
    }>('/auth/sessions', a.accessToken);
    expect(sessions.status).toBe(200);
    expect(sessions.body.sessions).toHaveLength(2);
    const current = sessions.body.sessions.filter((s) => s.current);
    expect(current).toHaveLength(1);
    expect(current[0]?.deviceName).toBe('laptop');
    expect(sessions.body.sessions.map((s) => s.deviceName).sort()).toEqual(['laptop', 'tablet']);
  });

  it('rotates refresh tokens and revokes the session when an old one is reused', async () => {
    const a = remember(await registerUser(api, 'refresh'));
    const first = await api.post<{ accessToken: string; refreshToken: string }>('/auth/refresh', {
      refreshToken: a.refreshToken,
    });
    expect(first.status).toBe(200);
    secrets.push(first.body.accessToken, first.body.refreshToken);
    expect(first.body.refreshToken).not.toBe(a.refreshToken);
    expect((await api.get('/auth/me', first.body.accessToken)).status).toBe(200);

    const reuse = await api.post('/auth/refresh', { refreshToken: a.refreshToken });
    expect(reuse.status).toBe(401);
    // The whole session is gone: its newest access token and refresh token too, at once.
    expectProblem(await api.get('/auth/me', first.body.accessToken), 401, 'unauthorized');
    expect(
      (await api.post('/auth/refresh', { refreshToken: first.body.refreshToken })).status,
    ).toBe(401);
  });

  it('lets exactly one of two concurrent refreshes with the same token succeed', async () => {
    const a = remember(await registerUser(api, 'race'));
    const replies = await Promise.all([
      api.post('/auth/refresh', { refreshToken: a.refreshToken }),
      api.post('/auth/refresh', { refreshToken: a.refreshToken }),
    ]);
    for (const r of replies)
      if (r.status === 200) secrets.push((r.body as { accessToken: string }).accessToken);
    expect(replies.map((r) => r.status).sort()).toEqual([200, 401]);
  });

  it('logs out one device at once, and all devices with allDevices', async () => {
    const a = remember(await registerUser(api, 'logout'));
    const other = await api.post<{ accessToken: string; refreshToken: string }>('/auth/login', {
      username: a.username,
      password: a.password,
    });
    secrets.push(other.body.accessToken, other.body.refreshToken);
    const out = await api.call('POST', '/auth/logout', { token: a.accessToken, json: {} });
    expect(out.status).toBe(204);
    expectProblem(await api.get('/auth/me', a.accessToken), 401, 'unauthorized');
    expect((await api.post('/auth/refresh', { refreshToken: a.refreshToken })).status).toBe(401);
    expect((await api.get('/auth/me', other.body.accessToken)).status).toBe(200);

    const third = await api.post<{ accessToken: string }>('/auth/login', {
      username: a.username,
      password: a.password,
    });
    secrets.push(third.body.accessToken);
    expect(
      (
        await api.call('POST', '/auth/logout', {
          token: third.body.accessToken,
          json: { allDevices: true },
        })
      ).status,
    ).toBe(204);
    expectProblem(await api.get('/auth/me', other.body.accessToken), 401, 'unauthorized');
    expect(
      (await api.post('/auth/refresh', { refreshToken: other.body.refreshToken })).status,
    ).toBe(401);
  });

  it('refuses missing, malformed and forged bearer tokens with 401', async () => {
    const a = remember(await registerUser(api, 'forge'));
    expectProblem(await api.get('/auth/me'), 401, 'unauthorized');
    expectProblem(await api.get('/auth/me', 'not-a-jwt'), 401, 'unauthorized');
    const [h, p, s] = a.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString(
      'base64url',
    );
    expectProblem(await api.get('/auth/me', `${h}.${forged}.${s}`), 401, 'unauthorized');
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expectProblem(await api.get('/auth/me', `${none}.${p}.`), 401, 'unauthorized');
  });

  it('limits repeated failed logins with 429 rate_limited and Retry-After', async () => {
    const a = remember(await registerUser(api, 'limit'));
    let limited: Awaited<ReturnType<Client['post']>> | undefined;
    for (let i = 0; i < 30 && !limited; i++) {
      const res = await api.post('/auth/login', {
        username: a.username,
        password: `wrong-${i}-password`,
      });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(401);
    }
    expect(limited, 'no 429 after 30 failed logins').toBeDefined();
    if (!limited) return;
    expectProblem(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
