import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { captureLogger } from '../../test-support/index.js';
import { createServiceApp } from '../src/app.js';
import { ProblemError } from '../src/errors.js';
import { createMetricsServer } from '../src/metrics.js';

const { logger, lines } = captureLogger('http-test');
let app: Awaited<ReturnType<typeof createServiceApp>>;

beforeAll(async () => {
  app = await createServiceApp({ service: 'test', version: '1.2.3', logger, checks: {} });
  app.post(
    '/echo',
    { schema: { body: z.object({ name: z.string().min(1), count: z.number().int() }).strict() } },
    async (request) => request.body,
  );
  app.get('/conflict', async () => {
    throw new ProblemError('conflict', 'already there', { extensions: { id: 'x' } });
  });
  app.get('/boom', async () => {
    throw new Error('secret internal detail at /srv/app.ts:42');
  });
  app.get('/mongo-down', async () => {
    const err = new Error('Server selection timed out after 5000 ms');
    err.name = 'MongoServerSelectionError';
    throw err;
  });
  app.get('/redis-down', async () => {
    throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
  });
  app.get('/limited', async () => {
    throw new ProblemError('rate_limited', 'slow down', { headers: { 'retry-after': '7' } });
  });
  await app.ready();
});
afterAll(() => app.close());

const problemType = 'application/problem+json; charset=utf-8';

describe('problem documents', () => {
  it('answers validation errors with 400 validation_failed and the offending fields', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      payload: { name: '', count: 'x' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe(problemType);
    const body = res.json();
    expect(body).toMatchObject({
      status: 400,
      code: 'validation_failed',
      title: 'Validation failed',
    });
    expect(body.type).toMatch(/validation_failed$/);
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['count', 'name']);
  });

  it('rejects unknown fields and operator injection', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      payload: { name: { $gt: '' }, count: 1, extra: true },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "a",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_json');
  });

  it('refuses prototype pollution keys as invalid JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"a","count":1,"__proto__":{"admin":true}}',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_json');
  });

  it('answers an unsupported content type with 415', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/x-unknown' },
      payload: 'x',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('unsupported_media_type');
  });

  it('answers a body over the limit with 413', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024), count: 1 }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
  });

  it('turns a ProblemError into its document with extensions and headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/conflict' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: 'conflict', detail: 'already there', id: 'x' });
    const limited = await app.inject({ method: 'GET', url: '/limited' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
  });

  it('hides unknown errors behind 500 internal and logs the stack', async () => {
    const res = await app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toMatchObject({ code: 'internal', status: 500, detail: 'internal server error' });
    expect(JSON.stringify(body)).not.toContain('secret internal detail');
    expect(lines().some((l) => l.includes('secret internal detail'))).toBe(true);
  });

  it('answers an unreachable MongoDB or Redis with 503 upstream_unavailable and Retry-After', async () => {
    for (const url of ['/mongo-down', '/redis-down']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'upstream_unavailable', status: 503 });
      expect(res.headers['retry-after']).toBe('1');
    }
  });

  it('answers unknown routes with 404 not_found', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope/../../etc/passwd' });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('not_found');
  });
});

describe('request ids and logs', () => {
  it('echoes a sane x-request-id and logs it on the request line', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'abc-123' },
    });
    expect(res.headers['x-request-id']).toBe('abc-123');
    const line = lines().find((l) => l.includes('"requestId":"abc-123"'));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({
      msg: 'request completed',
      route: '/health',
      statusCode: 200,
      service: 'http-test',
    });
  });

  it('replaces an insane x-request-id with a new one', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/health',
      headers: { 'x-request-id': 'bad id\twith spaces' },
    });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('redacts authorization headers and credentials', async () => {
    const { logger: l, lines: captured } = captureLogger('redact-test');
    l.info({ req: { headers: { authorization: 'Bearer sekrit', cookie: 'c=sekrit2' } } }, 'x');
    l.info({ password: 'sekrit3', body: { refreshToken: 'sekrit4' } }, 'y');
    const all = captured().join('\n');
    expect(all).not.toMatch(/sekrit/);
    expect(all).toContain('[redacted]');
  });
});

describe('health and metrics', () => {
  it('serves /health with service and version', async () => {
    const res = await app.inject({ method: 'GET', url: '/health' });
    expect(res.json()).toEqual({ status: 'ok', service: 'test', version: '1.2.3' });
  });

  it('labels the request histogram by route pattern, never the raw path', async () => {
    await app.inject({ method: 'GET', url: '/nope/123' });
    const metrics = createMetricsServer({ registry: app.metrics });
    const res = await metrics.inject({ method: 'GET', url: '/metrics' });
    await metrics.close();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(
      /http_request_duration_seconds_count\{service="test",method="GET",route="\/health",status_code="200"\} \d+/,
    );
    expect(res.body).toContain('route="unmatched"');
    expect(res.body).not.toContain('/nope/123');
    expect(res.body).toContain('process_resident_memory_bytes');
  });
});

describe('router errors', () => {
  it('answers an undecodable URL and an over-long parameter with 400 problem documents', async () => {
    const local = await createServiceApp({
      service: 't',
      version: '0',
      logger: captureLogger().logger,
      checks: {},
    });
    local.get('/things/:id', async () => ({}));
    await local.ready();
    const bad = await local.inject({ method: 'GET', url: '/things/%E0%A4%A' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('validation_failed');
    const long = await local.inject({ method: 'GET', url: `/things/${'a'.repeat(600)}` });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({
      code: 'validation_failed',
      detail: 'a path parameter is too long',
    });
    await local.close();
  });
});
