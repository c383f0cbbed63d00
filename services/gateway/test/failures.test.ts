import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRedis } from '../../../scripts/lib/deps.js';
import { expectProblem } from '../../../test-support/client.js';
import { type GatewayHarness, type Session, startGateway } from './helpers.js';

async function call(
  base: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
) {
  const started = Date.now();
  const res = await fetch(`${base}${path}`, { method, headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    ms: Date.now() - started,
    body: text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text,
  };
}
const bearer = (s: Session) => ({ authorization: `Bearer ${s.token}` });

describe('upstream failures', () => {
  let gw: GatewayHarness;
  let alice: Session;
  beforeAll(async () => {
    gw = await startGateway({ LOG_LEVEL: 'silent', UPSTREAM_TIMEOUT_MS: '600' });
    alice = await gw.session();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers 503 upstream_unavailable while an upstream is down, and recovers when it returns', async () => {
    expect((await call(gw.url, '/sync/changes', bearer(alice))).status).toBe(200);
    await gw.upstreams.sync.close();
    const down = await call(gw.url, '/sync/changes', bearer(alice));
    expectProblem(down, 503, 'upstream_unavailable');
    expect(down.headers.get('retry-after')).toBe('1');
    // The other upstreams are unaffected.
    expect((await call(gw.url, '/auth/me', bearer(alice))).status).toBe(200);
    // Readiness is the gateway's own (Redis): a down upstream never takes it out of its Service.
    const ready = await call(gw.url, '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ redis: 'ok' });
    await gw.upstreams.sync.restart();
    expect((await call(gw.url, '/sync/changes', bearer(alice))).status).toBe(200);
    expect((await call(gw.url, '/ready')).status).toBe(200);
  });

  it('answers 504 when an upstream does not answer within UPSTREAM_TIMEOUT_MS', async () => {
    const slow = await call(gw.url, '/sync/push?delay=3000', bearer(alice), 'POST');
    expectProblem(slow, 504, 'upstream_unavailable');
    // Before the upstream's 3 s answer: the gateway gave up at its own timeout.
    expect(slow.ms).toBeLessThan(2_900);
    // The gateway is fine afterwards.
    expect((await call(gw.url, '/sync/push', bearer(alice), 'POST')).status).toBe(200);
  });

  it('gives the sync long-poll longer than UPSTREAM_TIMEOUT_MS', async () => {
    const poll = await call(gw.url, '/sync/changes?wait=2&delay=1500', bearer(alice));
    expect(poll.status).toBe(200);
    expect(poll.body.url).toBe('/sync/changes?wait=2&delay=1500');
  });

  it('holds more waiting long-polls at once than UPSTREAM_CONNECTIONS; other calls stay bounded', async () => {
    const small = await startGateway({
      LOG_LEVEL: 'silent',
      UPSTREAM_CONNECTIONS: '2',
      UPSTREAM_LONG_POLL_CONNECTIONS: '50',
    });
    try {
      const bob = await small.session();
      const sync = small.upstreams.sync;
      sync.load.maxInFlight = 0;
      const polls = await Promise.all(
        Array.from({ length: 12 }, () =>
          call(small.url, '/sync/changes?wait=2&delay=800', bearer(bob)),
        ),
      );
      expect(polls.map((p) => p.status)).toEqual(Array(12).fill(200));
      // All twelve waited upstream together, none queued behind another's wait.
      expect(sync.load.maxInFlight).toBe(12);
      sync.load.maxInFlight = 0;
      const pushes = await Promise.all(
        Array.from({ length: 6 }, () =>
          call(small.url, '/sync/push?delay=200', bearer(bob), 'POST'),
        ),
      );
      expect(pushes.map((p) => p.status)).toEqual(Array(6).fill(200));
      expect(sync.load.maxInFlight).toBe(2);
    } finally {
      await small.close();
    }
  });

  it('answers 502 when an upstream drops the connection without an answer', async () => {
    const dropped = await call(gw.url, '/attachments/a1?destroy=1', bearer(alice));
    expectProblem(dropped, 502, 'upstream_unavailable');
    expect((await call(gw.url, '/attachments/a1', bearer(alice))).status).toBe(200);
  });

  it('passes an upstream’s own 503 through once, without retrying it', async () => {
    const before = gw.upstreams.attachments.seen.length;
    const res = await call(gw.url, '/storage/qiniu/token?status=503', {
      ...bearer(alice),
    });
    expect(res.status).toBe(503);
    // Once: the upstream saw one call (a retry would show as a second).
    expect(gw.upstreams.attachments.seen.length - before).toBe(1);
  });

  it('checks only Redis in /ready, never an upstream (no upstream /ready is called)', async () => {
    const before = Object.values(gw.upstreams).map((u) => u.seen.length);
    const ready = await call(gw.url, '/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ redis: 'ok' });
    expect(Object.values(gw.upstreams).map((u) => u.seen.length)).toEqual(before);
  });

  it('exports upstream latency by upstream and route pattern in its metrics registry', async () => {
    await call(gw.url, '/attachments/some-id-123', bearer(alice));
    const metrics = { text: await gw.app.metrics.metrics() };
    expect(metrics.text).toMatch(
      /gateway_upstream_duration_seconds_count\{[^}]*upstream="attachments",route="GET \/attachments\/:id",status_code="200"\} \d+/,
    );
    expect(metrics.text).toMatch(
      /gateway_upstream_duration_seconds_count\{[^}]*upstream="sync",route="GET \/sync\/changes"/,
    );
    expect(metrics.text).not.toContain('some-id-123');
  });
});

describe('Redis outage', () => {
  it('fails closed with 503 while Redis is down and recovers by itself when it returns', async () => {
    const redis = await spawnRedis();
    const gw = await startGateway({ LOG_LEVEL: 'silent' }, { redisUrl: redis.url });
    try {
      let alice = await gw.session();
      expect((await call(gw.url, '/sync/changes', bearer(alice))).status).toBe(200);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 200));
      // Authenticated: the session cannot be checked.
      expectProblem(
        await call(gw.url, '/sync/changes', bearer(alice)),
        503,
        'upstream_unavailable',
      );
      // Public: the rate limit cannot be counted; still a 503, never a 500.
      const login = await call(
        gw.url,
        '/auth/login',
        { 'content-type': 'application/json' },
        'POST',
      );
      expectProblem(login, 503, 'upstream_unavailable');
      const ready = await call(gw.url, '/ready');
      expectProblem(ready, 503, 'not_ready');
      expect(ready.body.failed).toEqual(['redis']);
      expect((await call(gw.url, '/health')).status).toBe(200);

      await redis.start();
      // This Redis keeps nothing across restarts: the auth service would write sessions anew.
      const deadline = Date.now() + 15_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await call(gw.url, '/ready')).status;
        if (status === 200) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
      alice = await gw.session();
      expect((await call(gw.url, '/sync/changes', bearer(alice))).status).toBe(200);
      expect(
        (await call(gw.url, '/auth/login', { 'content-type': 'application/json' }, 'POST')).status,
      ).toBe(200);
    } finally {
      await gw.close();
      await redis.destroy();
    }
  }, 60_000);
});
