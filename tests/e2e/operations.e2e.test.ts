import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICES } from '../../scripts/lib/stack.js';
import { type Client, client, expectProblem, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

let stack: TestStack;
let api: Client;

beforeAll(async () => {
  stack = await startTestStack('e2e-ops');
  api = client(stack.gateway);
});
afterAll(() => stack.stop());

describe('operations through the gateway (docs/api.md)', () => {
  it('serves /health and /ready publicly, and /metrics only on each process’s METRICS_PORT', async () => {
    const health = await api.get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      service: 'gateway',
      version: expect.any(String),
    });
    const ready = await api.get<{ checks: Record<string, string> }>('/ready');
    expect(ready.status).toBe(200);
    // The gateway's own needs only: never the upstreams' readiness.
    expect(ready.body.checks).toEqual({ redis: 'ok' });
    // Through the gateway: a 404 like any unknown path.
    expectProblem(await api.get('/metrics'), 404, 'not_found');
    for (const service of SERVICES) {
      // Not on any public port either ...
      const pub = await fetch(`${stack.urls[service]}/metrics`);
      expect(pub.status, service).toBe(404);
      expect(pub.headers.get('content-type'), service).toMatch(/problem\+json/);
      // ... but on the metrics listener, in Prometheus text format, labelled by route pattern.
      await fetch(`${stack.urls[service]}/health`);
      const res = await fetch(`${stack.metricsUrls[service]}/metrics`);
      expect(res.status, service).toBe(200);
      expect(res.headers.get('content-type'), service).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(text, service).toMatch(
        new RegExp(
          `http_request_duration_seconds_count\\{service="${service}",method="GET",route="/health",status_code="200"\\} [1-9]`,
        ),
      );
      expect(text, service).toContain('process_cpu_seconds_total');
    }
  });

  it('keeps the services ready on their own stores (MongoDB and Redis)', async () => {
    for (const service of ['auth', 'sync', 'attachments'] as const) {
      const res = await fetch(`${stack.urls[service]}/ready`);
      expect(res.status, service).toBe(200);
      expect(((await res.json()) as { checks: unknown }).checks, service).toEqual({
        mongodb: 'ok',
        redis: 'ok',
      });
    }
  });

  it('puts x-request-id on every response, keeping a sane client value', async () => {
    const mine = await api.get('/health', undefined, { 'x-request-id': 'client-id-123' });
    expect(mine.headers.get('x-request-id')).toBe('client-id-123');
    const fresh = await api.get('/auth/me');
    expect(fresh.headers.get('x-request-id')).toBeTruthy();
    const user = await registerUser(api, 'rid');
    await api.get('/auth/me', user.accessToken, { 'x-request-id': 'trace-me-42' });
    // Each process logs a request when its answer is sent: poll until both lines have arrived.
    const services = () =>
      [
        ...new Set(
          stack
            .logs()
            .filter((l) => l.includes('trace-me-42'))
            .map((l) => (JSON.parse(l) as { service: string }).service),
        ),
      ].sort();
    await expect.poll(services).toEqual(['auth', 'gateway']);
  });

  it('serves the OpenAPI 3.1 document with every docs/api.md call, and /docs', async () => {
    const doc = await api.get<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      '/openapi.json',
    );
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\.1/);
    const expected: [string, string][] = [
      ['/auth/register', 'post'],
      ['/auth/login', 'post'],
      ['/auth/refresh', 'post'],
      ['/auth/logout', 'post'],
      ['/auth/me', 'get'],
      ['/auth/sessions', 'get'],
      ['/sync/changes', 'get'],
      ['/sync/push', 'post'],
      ['/attachments/{id}', 'put'],
      ['/attachments/{id}', 'get'],
      ['/attachments/{id}', 'delete'],
      ['/attachments', 'get'],
      ['/storage/qiniu/token', 'get'],
    ];
    for (const [path, method] of expected)
      expect(doc.body.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    const docs = await fetch(`${stack.gateway}/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toContain('text/html');
  });

  it('answers unknown paths with a 4xx problem document, never 5xx', async () => {
    const res = await api.get('/nope');
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    expectProblem(await api.get('/sync/../auth/me'), 401, 'unauthorized');
  });

  it('answers 503 storage_not_configured for Qiniu tokens without Qiniu configuration', async () => {
    const user = await registerUser(api, 'noqiniu');
    expectProblem(
      await api.get('/storage/qiniu/token?key=a.jpg', user.accessToken),
      503,
      'storage_not_configured',
    );
  });
});
