import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthApp,
  authHarness,
  bearer,
  login,
  newUser,
  PASSWORD,
  register,
} from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('metrics');
  app = (await h.build({ AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '2' })).app;
});
afterAll(() => h.close());

/** `name{labels} value` samples of the app's registry (what the metrics listener serves). */
async function samples(): Promise<Map<string, number>> {
  const text = await app.metrics.metrics();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('auth_')) continue;
    const at = line.lastIndexOf(' ');
    // Drop the service default label so keys read as the counters' own labels.
    out.set(
      line
        .slice(0, at)
        .replace(/,?service="auth"/, '')
        .replace('{}', ''),
      Number(line.slice(at + 1)),
    );
  }
  return out;
}

/** What each counter gained between two `samples()`. */
function delta(before: Map<string, number>, after: Map<string, number>) {
  const out: Record<string, number> = {};
  for (const [key, value] of after) {
    const gained = value - (before.get(key) ?? 0);
    if (gained !== 0) out[key] = gained;
  }
  return out;
}

describe('auth domain metrics', () => {
  it('counts registrations, logins, refreshes, reuse and logouts by outcome', async () => {
    const before = await samples();
    const { username, session } = await newUser(app);
    expect((await register(app, { username, password: PASSWORD })).statusCode).toBe(409);
    expect((await login(app, { username, password: PASSWORD })).statusCode).toBe(200);
    expect((await login(app, { username, password: 'wrong password!' })).statusCode).toBe(401);
    expect((await login(app, { username, password: 'wrong password!' })).statusCode).toBe(401);
    // The third attempt within the window passes the per-username limit of 2.
    expect((await login(app, { username, password: PASSWORD })).statusCode).toBe(429);

    const refresh = (refreshToken: string) =>
      app.inject({ method: 'POST', url: '/auth/refresh', payload: { refreshToken } });
    const next = await refresh(session.refreshToken);
    expect(next.statusCode).toBe(200);
    // The used token again: reuse, which ends the session.
    expect((await refresh(session.refreshToken)).statusCode).toBe(401);
    expect((await refresh('not-a-token-at-all-but-long-enough-0000000000')).statusCode).toBe(401);

    const other = await newUser(app);
    const out = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: bearer(other.session.accessToken),
    });
    expect(out.statusCode).toBe(204);
    const second = await newUser(app);
    const all = await app.inject({
      method: 'POST',
      url: '/auth/logout',
      headers: bearer(second.session.accessToken),
      payload: { allDevices: true },
    });
    expect(all.statusCode).toBe(204);

    expect(delta(before, await samples())).toEqual({
      'auth_registrations_total{result="success"}': 3,
      'auth_registrations_total{result="username_taken"}': 1,
      'auth_logins_total{result="success"}': 1,
      'auth_logins_total{result="invalid_credentials"}': 2,
      'auth_logins_total{result="rate_limited"}': 1,
      'auth_refreshes_total{result="success"}': 1,
      'auth_refreshes_total{result="unauthorized"}': 2,
      auth_refresh_token_reuse_total: 1,
      'auth_logouts_total{scope="session"}': 1,
      'auth_logouts_total{scope="all_devices"}': 1,
    });
  });
});
