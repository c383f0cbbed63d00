import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/proc.js';
import { redisUrl, silentLogger } from '../../test-support/index.js';
import { exited, type ServiceProcess, startServiceProcess } from '../../test-support/processes.js';
import { createServiceApp } from '../src/app.js';
import { createMetricsServer, metricsPortOf } from '../src/metrics.js';

const problemType = 'application/problem+json; charset=utf-8';

describe('/metrics is not served on the public port (docs/api.md Operations)', () => {
  let app: Awaited<ReturnType<typeof createServiceApp>>;
  beforeAll(async () => {
    app = await createServiceApp({
      service: 'metrics-test',
      version: '0.0.1',
      logger: silentLogger(),
      checks: {},
    });
    app.get('/thing/:id', async () => ({ ok: true }));
    await app.ready();
  });
  afterAll(() => app.close());

  it('answers GET and HEAD /metrics on the app with a 404 problem document like any unknown path', async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const res = await app.inject({ method, url: '/metrics' });
      expect(res.statusCode, method).toBe(404);
      expect(res.headers['content-type']).toBe(problemType);
    }
    const res = await app.inject({ method: 'GET', url: '/metrics?format=text' });
    expect(res.json()).toMatchObject({ status: 404, code: 'not_found' });
    expect(res.body).not.toContain('http_request_duration_seconds');
  });

  it('serves the app registry on the metrics listener only: Prometheus text, route patterns', async () => {
    await app.inject({ method: 'GET', url: '/thing/secret-id-1' });
    const metrics = createMetricsServer({ registry: app.metrics });
    try {
      const res = await metrics.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.body).toMatch(
        /http_request_duration_seconds_count\{service="metrics-test",method="GET",route="\/thing\/:id",status_code="200"\} 1/,
      );
      expect(res.body).not.toContain('secret-id-1');
      // The listener serves nothing else: not the API, not /health.
      for (const url of ['/thing/x', '/health', '/', '/metrics/../ready']) {
        const other = await metrics.inject({ method: 'GET', url });
        expect(other.statusCode, url).toBe(404);
        expect(other.headers['content-type'], url).toBe(problemType);
      }
      expect((await metrics.inject({ method: 'POST', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await metrics.close();
    }
  });

  it('defaults METRICS_PORT to PORT + 1000, any free port when PORT is 0, and honours METRICS_PORT', () => {
    expect(metricsPortOf({ PORT: 8000 })).toBe(9000);
    expect(metricsPortOf({ PORT: 8000, METRICS_PORT: 9100 })).toBe(9100);
    expect(metricsPortOf({ PORT: 0 })).toBe(0);
    expect(metricsPortOf({ PORT: 8000, METRICS_PORT: 0 })).toBe(0);
  });
});

/** A free port p whose p + 1000 is free too (for the METRICS_PORT default). */
async function portPairFree(): Promise<number> {
  const canBind = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    if (port + 1000 <= 65535 && (await canBind(port + 1000))) return port;
  }
  throw new Error('no free port pair');
}

describe('a real gateway process', () => {
  let gateway: ServiceProcess;
  beforeAll(async () => {
    const port = await portPairFree();
    // No upstream runs at all: the gateway's readiness is its own (Redis), not theirs.
    gateway = await startServiceProcess('gateway', {
      PORT: String(port),
      METRICS_PORT: '',
      REDIS_URL: redisUrl(),
      REDIS_KEY_PREFIX: 'metrics-listener:',
      AUTH_URL: 'http://127.0.0.1:9',
      SYNC_URL: 'http://127.0.0.1:9',
      ATTACHMENTS_URL: 'http://127.0.0.1:9',
      JWT_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json',
    });
  }, 120_000);
  afterAll(() => gateway?.stop('SIGKILL'));

  it('serves /metrics on PORT + 1000 by default, and 404 on the public port', async () => {
    expect(gateway.metricsPort).toBe(gateway.port + 1000);
    const ready = await fetch(`${gateway.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { redis: 'ok' } });

    const pub = await fetch(`${gateway.url}/metrics`);
    expect(pub.status).toBe(404);
    expect(pub.headers.get('content-type')).toBe(problemType);
    expect(await pub.json()).toMatchObject({ code: 'not_found' });

    const res = await fetch(`${gateway.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(
      /http_request_duration_seconds_count\{service="gateway",method="GET",route="\/ready",status_code="200"\} [1-9]/,
    );
    expect(text).toMatch(/process_resident_memory_bytes\{service="gateway"\} \d+/);
    // The metrics port serves nothing but /metrics.
    expect((await fetch(`${gateway.metricsUrl}/ready`)).status).toBe(404);
  });

  it('closes both listeners on SIGTERM and exits 0', async () => {
    gateway.child.kill('SIGTERM');
    expect(await exited(gateway)).toBe(0);
    await expect(fetch(`${gateway.metricsUrl}/metrics`)).rejects.toThrow();
  });
});

describe('METRICS_PORT configuration', () => {
  it('refuses to start with one clear line when PORT + 1000 is not a port and METRICS_PORT is unset', async () => {
    const proc = await startServiceProcess(
      'gateway',
      { PORT: '65000', METRICS_PORT: '', REDIS_URL: redisUrl(), LOG_LEVEL: 'info' },
      { waitForPort: false },
    );
    try {
      expect(await exited(proc)).toBe(1);
      expect(proc.output().trim()).toMatch(
        /^gateway: Invalid configuration: METRICS_PORT: is required when PORT \+ 1000 is above 65535$/,
      );
    } finally {
      await proc.stop('SIGKILL');
    }
  });

  it('refuses a METRICS_PORT equal to PORT', async () => {
    const proc = await startServiceProcess(
      'gateway',
      { PORT: '18999', METRICS_PORT: '18999', REDIS_URL: redisUrl() },
      { waitForPort: false },
    );
    try {
      expect(await exited(proc)).toBe(1);
      expect(proc.output().trim()).toBe(
        'gateway: Invalid configuration: METRICS_PORT: must differ from PORT',
      );
    } finally {
      await proc.stop('SIGKILL');
    }
  });

  it('refuses a METRICS_PORT that is not a port', async () => {
    const proc = await startServiceProcess(
      'gateway',
      { METRICS_PORT: '70000', REDIS_URL: redisUrl() },
      { waitForPort: false },
    );
    try {
      expect(await exited(proc)).toBe(1);
      expect(proc.output()).toMatch(/METRICS_PORT: must be at most 65535/);
    } finally {
      await proc.stop('SIGKILL');
    }
  });
});
