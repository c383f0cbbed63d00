import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthApp,
  authHarness,
  login,
  newUser,
  PASSWORD,
  register,
  username,
} from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('ratelimit');
  app = (
    await h.build({
      // Behind the gateway: one trusted hop, so each test client's address is its own.
      TRUST_PROXY_HOPS: '1',
      AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '3',
      AUTH_LOGIN_MAX_FAILURES_PER_IP: '5',
      AUTH_LOGIN_FAILURE_WINDOW_SECONDS: '120',
      AUTH_REGISTER_MAX_PER_IP: '2',
      AUTH_REGISTER_WINDOW_SECONDS: '60',
    })
  ).app;
});
afterAll(() => h.close());

let ipCounter = 0;
/** A client address of its own, as the gateway (one trusted hop) forwards it. */
function from(): Record<string, string> {
  ipCounter += 1;
  return { 'x-forwarded-for': `203.0.113.${ipCounter}` };
}

function expectRateLimited(res: Awaited<ReturnType<typeof login>>, maxSeconds: number) {
  expect(res.statusCode).toBe(429);
  expect(res.json()).toMatchObject({ status: 429, code: 'rate_limited' });
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
}

describe('failed logins per username', () => {
  it('answers 429 with Retry-After after the limit, even with the right password', async () => {
    const { username: name } = await newUser(app, undefined, from());
    for (let i = 0; i < 3; i++) {
      // Each guess from another address: the per-username limit is what stops them.
      const res = await login(app, { username: name, password: `wrong-${i}-password` }, from());
      expect(res.statusCode).toBe(401);
    }
    expectRateLimited(await login(app, { username: name, password: 'wrong-again' }, from()), 120);
    expectRateLimited(
      await login(app, { username: name.toUpperCase(), password: PASSWORD }, from()),
      120,
    );
  });

  it('limits unknown usernames the same way, revealing nothing', async () => {
    const ghost = username('ghost');
    for (let i = 0; i < 3; i++) {
      expect((await login(app, { username: ghost, password: PASSWORD }, from())).statusCode).toBe(
        401,
      );
    }
    expectRateLimited(await login(app, { username: ghost, password: PASSWORD }, from()), 120);
  });

  it('forgets earlier failures after a successful login', async () => {
    const { username: name } = await newUser(app, undefined, from());
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) {
        const res = await login(app, { username: name, password: 'wrong-password' }, from());
        expect(res.statusCode).toBe(401);
      }
      expect((await login(app, { username: name, password: PASSWORD }, from())).statusCode).toBe(
        200,
      );
    }
  });

  it('counts concurrent guesses: a burst cannot slip past the limit', async () => {
    const { username: name } = await newUser(app, undefined, from());
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        login(app, { username: name, password: `burst-${i}-password` }, from()),
      ),
    );
    const codes = results.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 401)).toHaveLength(3);
    expect(codes.filter((c) => c === 429)).toHaveLength(5);
  });
});

describe('failed logins per client address', () => {
  it('answers 429 for an address after its limit, other addresses unaffected', async () => {
    const ip = from();
    for (let i = 0; i < 5; i++) {
      // Different usernames each time: the per-address limit is what stops them.
      const res = await login(app, { username: username('spray'), password: PASSWORD }, ip);
      expect(res.statusCode).toBe(401);
    }
    const { username: name } = await newUser(app, undefined, from());
    expectRateLimited(await login(app, { username: name, password: PASSWORD }, ip), 120);
    expect((await login(app, { username: name, password: PASSWORD }, from())).statusCode).toBe(200);
  });

  it('does not count successful logins against the address', async () => {
    const ip = from();
    const { username: name } = await newUser(app, undefined, from());
    for (let i = 0; i < 8; i++) {
      expect((await login(app, { username: name, password: PASSWORD }, ip)).statusCode).toBe(200);
    }
  });

  it('takes the address from X-Forwarded-For only from a trusted proxy', async () => {
    const strict = (
      await h.build({
        TRUST_PROXY: '10.9.9.9',
        AUTH_LOGIN_MAX_FAILURES_PER_IP: '2',
        AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '100',
      })
    ).app;
    // The direct peer (127.0.0.1) is not trusted: spoofed addresses all count as one client.
    const codes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await login(strict, { username: username('spoof'), password: PASSWORD }, from());
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([401, 401, 429]);
  });
});

describe('registrations per client address', () => {
  it('answers 429 with Retry-After after the limit', async () => {
    const ip = from();
    for (let i = 0; i < 2; i++) {
      const res = await register(app, { username: username('reg'), password: PASSWORD }, ip);
      expect(res.statusCode).toBe(201);
    }
    expectRateLimited(
      await register(app, { username: username('reg'), password: PASSWORD }, ip),
      60,
    );
    const other = await register(app, { username: username('reg'), password: PASSWORD }, from());
    expect(other.statusCode).toBe(201);
  });

  it('keeps its counters in Redis under the key prefix, with an expiry', async () => {
    const keys = await h.rawRedis.keys(`${h.keyPrefix}ratelimit:*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(await h.rawRedis.pttl(key)).toBeGreaterThan(0);
  });
});
