import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHarness, bearer, login, PASSWORD, register, username } from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
beforeAll(async () => {
  h = await authHarness('logs');
});
afterAll(() => h.close());

describe('logs', () => {
  it('never contain a password, access token or refresh token used in the flow', async () => {
    const { app, lines } = await h.build({ LOG_LEVEL: 'trace' });
    const secrets: string[] = [PASSWORD, 'wrong-secret-password'];
    const name = username('logged');

    const reg = (await register(app, { username: name, password: PASSWORD })).json();
    secrets.push(reg.accessToken, reg.refreshToken);
    await login(app, { username: name, password: 'wrong-secret-password' });
    await login(app, { username: 'nobody-here', password: 'wrong-secret-password' });
    await register(app, { username: 'x', password: 'wrong-secret-password' });
    const logged = (await login(app, { username: name, password: PASSWORD })).json();
    secrets.push(logged.accessToken, logged.refreshToken);
    await app.inject({ method: 'GET', url: '/auth/me', headers: bearer(logged.accessToken) });
    const refreshed = (
      await app.inject({
        method: 'POST',
        url: '/auth/refresh',
        payload: { refreshToken: logged.refreshToken },
      })
    ).json();
    secrets.push(refreshed.accessToken, refreshed.refreshToken);
    // Reuse (logged as a warning) and a malformed refresh body.
    await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refreshToken: logged.refreshToken },
    });
    await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'content-type': 'application/json' },
      payload: `{"refreshToken":"${reg.refreshToken}"`,
    });
    await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: bearer(reg.accessToken),
      payload: { allDevices: true },
    });

    const all = lines();
    expect(all.length).toBeGreaterThan(8);
    expect(all.some((l) => l.includes('refresh token reused'))).toBe(true);
    for (const secret of secrets) {
      for (const line of all) expect(line).not.toContain(secret);
    }
    // Not even the signature part of an access token.
    for (const token of secrets.filter((s) => s.split('.').length === 3)) {
      const signature = token.split('.')[2] as string;
      expect(all.join('\n')).not.toContain(signature);
    }
  });
});

describe('indexes', () => {
  it('are created idempotently at start-up, with the unique ones the design relies on', async () => {
    await h.build();
    await h.build();
    const names = async (c: string) =>
      (await h.db.collection(c).listIndexes().toArray()).map((i) => ({
        name: i.name,
        unique: i.unique === true,
      }));
    expect(await names('users')).toContainEqual({ name: 'usernameLower_unique', unique: true });
    expect(await names('refresh_tokens')).toEqual(
      expect.arrayContaining([
        { name: 'tokenHash_unique', unique: true },
        { name: 'previousHash_unique', unique: true },
      ]),
    );
    const sessionIndexes = (await names('sessions')).map((i) => i.name);
    expect(sessionIndexes).toContain('userId');
    expect(sessionIndexes.some((n) => n.startsWith('expiresAt_'))).toBe(true);
  });
});
