import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthApp,
  authHarness,
  bearer,
  login,
  newUser,
  PASSWORD,
  username,
} from './helpers.js';

/**
 * Issue 15: a flood of failing logins from one address must not stall auth for anyone else.
 * Real scrypt (a cost that takes milliseconds here), real Redis and MongoDB-wire server, the
 * default per-address limit, two hash slots.
 */
let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('login-flood');
  app = (
    await h.build({
      TRUST_PROXY_HOPS: '1',
      PASSWORD_SCRYPT_LOG_N: '14',
      AUTH_HASH_CONCURRENCY: '2',
      AUTH_HASH_QUEUE_WAIT_MS: '1000',
      AUTH_LOGIN_MAX_FAILURES_PER_IP: '50',
      AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '10',
    })
  ).app;
});
afterAll(() => h.close());

const attacker = { 'x-forwarded-for': '198.51.100.66' };
const bystanderAddress = { 'x-forwarded-for': '203.0.113.10' };

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await f();
  return { value, ms: performance.now() - start };
}

describe('200 parallel failing logins from one address', () => {
  it('are counted before any hash, answered 401/429/503 only, and leave a bystander alone', async () => {
    const { username: name } = await newUser(app, undefined, bystanderAddress);
    // The bystander's normal latency, before the flood.
    const baseline = await timed(() =>
      login(app, { username: name, password: PASSWORD }, bystanderAddress),
    );
    expect(baseline.value.statusCode).toBe(200);

    const flood = Array.from({ length: 200 }, () =>
      login(app, { username: username('ghost'), password: 'wrong password!' }, attacker),
    );
    // The bystander logs in and asks who it is while the flood is in flight.
    await new Promise((r) => setTimeout(r, 20));
    const during = await timed(() =>
      login(app, { username: name, password: PASSWORD }, bystanderAddress),
    );
    const token = (during.value.json() as { accessToken: string }).accessToken;
    const me = await timed(() =>
      app.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) }),
    );
    const replies = await Promise.all(flood);

    expect(during.value.statusCode).toBe(200);
    expect(me.value.statusCode).toBe(200);
    const statuses: Record<number, number> = {};
    for (const r of replies) {
      statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      expect([401, 429, 503]).toContain(r.statusCode);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      if (r.statusCode !== 401) expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // Counted before the hash: at most the per-address limit of them reached a hash at all.
    expect((statuses[401] ?? 0) + (statuses[503] ?? 0)).toBeLessThanOrEqual(50);
    expect(statuses[429] ?? 0).toBeGreaterThanOrEqual(150);
    console.log(
      `[login-flood] statuses ${JSON.stringify(statuses)}; bystander login ${baseline.ms.toFixed(0)} ms before, ${during.ms.toFixed(0)} ms during; /auth/me ${me.ms.toFixed(0)} ms`,
    );
  });

  it('with the per-address limit out of the way, the gate alone keeps the bystander served', async () => {
    const open = (
      await h.build({
        TRUST_PROXY_HOPS: '1',
        PASSWORD_SCRYPT_LOG_N: '14',
        AUTH_HASH_CONCURRENCY: '2',
        AUTH_HASH_QUEUE_WAIT_MS: '300',
      })
    ).app;
    const { username: name } = await newUser(open, undefined, bystanderAddress);
    const flood = Array.from({ length: 200 }, () =>
      login(open, { username: username('ghost'), password: 'wrong password!' }, attacker),
    );
    await new Promise((r) => setTimeout(r, 20));
    const during = await login(open, { username: name, password: PASSWORD }, bystanderAddress);
    const replies = await Promise.all(flood);
    expect(during.statusCode).toBe(200);
    const codes = new Set(replies.map((r) => r.statusCode));
    for (const code of codes) expect([401, 429, 503]).toContain(code);
    // One address may keep only a few hashes waiting: the rest are refused at once.
    expect(replies.filter((r) => r.statusCode === 429).length).toBeGreaterThan(150);
  });
});
