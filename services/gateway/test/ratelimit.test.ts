import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../../test-support/client.js';
import { type GatewayHarness, startGateway } from './helpers.js';

let gw: GatewayHarness;

beforeAll(async () => {
  gw = await startGateway({
    LOG_LEVEL: 'warn',
    // As behind one ingress: the address the (loopback) proxy saw is the client's.
    TRUST_PROXY_HOPS: '1',
    RATE_LIMIT_MAX: '3',
    RATE_LIMIT_AUTHENTICATED_MAX: '5',
    // Long enough that a slow machine's calls still fall in one window; short enough to wait out.
    RATE_LIMIT_WINDOW_MS: '4000',
  });
});
afterAll(async () => {
  await gw?.close();
});

async function call(path: string, headers: Record<string, string>, method = 'GET') {
  const res = await fetch(`${gw.url}${path}`, { method, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : text };
}

describe('rate limits', () => {
  it('limits anonymous calls per client address with 429 rate_limited and Retry-After', async () => {
    const from = (ip: string) => ({ 'content-type': 'application/json', 'x-forwarded-for': ip });
    for (let i = 0; i < 3; i++) {
      expect((await call('/auth/login', from('203.0.113.1'), 'POST')).status).toBe(200);
    }
    const limited = await call('/auth/login', from('203.0.113.1'), 'POST');
    expectProblem(limited, 429, 'rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(4);
    // Another address has a budget of its own.
    expect((await call('/auth/login', from('203.0.113.2'), 'POST')).status).toBe(200);
  });

  it('limits authenticated calls per user, whatever the address', async () => {
    const alice = await gw.session();
    const bob = await gw.session();
    const as = (token: string, ip: string) => ({
      authorization: `Bearer ${token}`,
      'x-forwarded-for': ip,
    });
    for (let i = 0; i < 5; i++) {
      expect((await call('/sync/changes', as(alice.token, `198.51.100.${i}`))).status).toBe(200);
    }
    expectProblem(
      await call('/attachments', as(alice.token, '198.51.100.99')),
      429,
      'rate_limited',
    );
    // Bob, from the same address as Alice's last call, is not affected.
    expect((await call('/sync/changes', as(bob.token, '198.51.100.99'))).status).toBe(200);
    // The counters live in Redis under the service's key prefix.
    const keys = await gw.redis.keys(`${gw.keyPrefix}ratelimit:*`);
    expect(keys.map((k) => k.slice(gw.keyPrefix.length))).toEqual(
      expect.arrayContaining([`ratelimit:user:${alice.userId}`, 'ratelimit:ip:203.0.113.1']),
    );
  });

  it('lets calls through again once the window has passed', async () => {
    const carol = await gw.session();
    const headers = { authorization: `Bearer ${carol.token}` };
    for (let i = 0; i < 5; i++) await call('/sync/changes', headers);
    const limited = await call('/sync/changes', headers);
    expect(limited.status).toBe(429);
    await new Promise((r) =>
      setTimeout(r, Number(limited.headers.get('retry-after')) * 1000 + 100),
    );
    expect((await call('/sync/changes', headers)).status).toBe(200);
  });

  it('does not count the gateway’s own routes', async () => {
    for (let i = 0; i < 6; i++) {
      expect(
        (await fetch(`${gw.url}/health`, { headers: { 'x-forwarded-for': '203.0.113.50' } }))
          .status,
      ).toBe(200);
    }
  });
});

describe('Redis round trips (budget)', () => {
  it('sends an authenticated call’s session lookup and rate-limit counter in one write', async () => {
    const dave = await gw.session();
    const headers = { authorization: `Bearer ${dave.token}` };
    // The first call loads the rate-limit script (EVALSHA, then EVAL on NOSCRIPT).
    expect((await call('/sync/changes', headers)).status).toBe(200);
    const stream = (gw.redis as unknown as { stream: { write: (...args: unknown[]) => boolean } })
      .stream;
    const write = stream.write;
    const written: string[] = [];
    stream.write = function (this: unknown, ...args: unknown[]) {
      written.push(String(args[0]));
      return write.apply(this, args);
    };
    try {
      expect((await call('/sync/changes', headers)).status).toBe(200);
    } finally {
      stream.write = write;
    }
    expect(written).toHaveLength(1);
    // Both commands in it: GET of the session, EVALSHA of the counter.
    expect(written[0]).toMatch(/get[\s\S]*session:/i);
    expect(written[0]).toMatch(/evalsha/i);
  });
});
