import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, client, expectProblem, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

let stack: TestStack;
let api: Client;

beforeAll(async () => {
  stack = await startTestStack('e2e-ops');
  api = client(stack.gateway);
});
afterAll(() => stack.stop());

describe('operations through the gateway (API.md)', () => {
  it('serves /health, /ready and /metrics publicly', async () => {
    const health = await api.get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      service: 'gateway',
      version: expect.any(String),
    });
    expect((await api.get('/ready')).status).toBe(200);
    const metrics = await api.get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('http_request_duration_seconds');
  });

  it('puts x-request-id on every response, keeping a sane client value', async () => {
    const mine = await api.get('/health', undefined, { 'x-request-id': 'client-id-123' });
    expect(mine.headers.get('x-request-id')).toBe('client-id-123');
    const fresh = await api.get('/auth/me');
    expect(fresh.headers.get('x-request-id')).toBeTruthy();
    const user = await registerUser(api, 'rid');
    await api.get('/auth/me', user.accessToken, { 'x-request-id': 'trace-me-42' });
    await new Promise((r) => setTimeout(r, 200));
    const lines = stack.logs().filter((l) => l.includes('trace-me-42'));
    const services = new Set(lines.map((l) => (JSON.parse(l) as { service: string }).service));
    expect([...services].sort()).toEqual(['auth', 'gateway']);
  });

  it('serves the OpenAPI 3.1 document with every API.md call, and /docs', async () => {
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
