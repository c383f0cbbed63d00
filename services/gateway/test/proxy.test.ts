import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../../test-support/client.js';
import {
  blocks,
  type GatewayHarness,
  json,
  type Session,
  sha256Of,
  startGateway,
} from './helpers.js';

let gw: GatewayHarness;
let alice: Session;

beforeAll(async () => {
  gw = await startGateway();
  alice = await gw.session();
});
afterAll(async () => {
  await gw?.close();
});

function get(path: string, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}${path}`, { headers });
}

const bearer = (s: Session) => ({ authorization: `Bearer ${s.token}` });

/** A raw HTTP request, so paths reach the gateway exactly as written (no URL normalising). */
function rawGet(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const u = new URL(gw.url);
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('routing', () => {
  it.each([
    ['/auth/me', 'auth'],
    ['/auth/sessions', 'auth'],
    ['/sync/changes?since=3&limit=10', 'sync'],
    ['/sync/anything/else', 'sync'],
    ['/attachments', 'attachments'],
    ['/attachments?limit=5', 'attachments'],
    ['/attachments/a1', 'attachments'],
    ['/storage/qiniu/token?key=x', 'attachments'],
  ])('routes %s to %s with path and query unchanged', async (path, upstream) => {
    const res = await get(path, bearer(alice));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.upstream).toBe(upstream);
    expect(body.url).toBe(path);
  });

  it('routes every method, streaming request bodies through unchanged', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const payload = `{"n":1,"method":"${method}"}`;
      const res = await fetch(`${gw.url}/sync/push`, {
        method,
        headers: { ...bearer(alice), 'content-type': 'application/json' },
        body: payload,
      });
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.method).toBe(method);
      expect(body.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    }
  });

  it('passes malformed JSON upstream untouched (the gateway parses no bodies)', async () => {
    const res = await fetch(`${gw.url}/sync/push`, {
      method: 'POST',
      headers: { ...bearer(alice), 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(res.status).toBe(200);
    expect((await json(res)).bytes).toBe(9);
  });

  it('passes HEAD and upstream statuses and headers through', async () => {
    const head = await fetch(`${gw.url}/attachments/a1`, {
      method: 'HEAD',
      headers: bearer(alice),
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe('"echo"');
    const missing = await get('/attachments/a1?status=404', bearer(alice));
    expect(missing.status).toBe(404);
  });

  it('adds the security headers to proxied replies (user content is never sniffed or framed)', async () => {
    const res = await get('/attachments/a1', bearer(alice));
    await res.arrayBuffer();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
  });

  it('does not route the services’ own operational routes or the JWKS', async () => {
    // Neither an upstream's nor the gateway's own metrics (those are on METRICS_PORT only).
    for (const path of ['/metrics', '/.well-known/jwks.json']) {
      const res = await get(path);
      expectProblem(
        { status: res.status, headers: res.headers, body: await res.json(), text: '' },
        404,
        'not_found',
      );
    }
    for (const path of [
      '/auth/../metrics',
      '/auth/%2e%2e/health',
      '/sync/../../.well-known/jwks.json',
    ]) {
      const res = await rawGet(path, bearer(alice));
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('"internal"');
    }
    for (const up of Object.values(gw.upstreams)) {
      expect(up.seen.filter((s) => /health|metrics|jwks|ready/.test(s.url))).toEqual([]);
    }
  });

  it('answers 404 for paths outside every routed prefix', async () => {
    const res = await get('/attachmentsx', bearer(alice));
    expect(res.status).toBe(404);
    const other = await get('/nothing/here');
    expect(other.status).toBe(404);
    expect((await json(other)).code).toBe('not_found');
  });

  it('refuses a declared body over the call’s limit with 413 before proxying', async () => {
    const res = await fetch(`${gw.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(64 * 1024),
    });
    expectProblem(
      { status: res.status, headers: res.headers, body: await res.json(), text: '' },
      413,
      'payload_too_large',
    );
  });
});

describe('identity and request headers', () => {
  it('strips client-sent identity headers and passes the verified user id', async () => {
    const res = await get('/sync/changes', {
      ...bearer(alice),
      'x-user-id': 'mallory',
      'x-session-id': 'stolen',
      'x-journal-user-id': 'mallory',
      'x-journal-admin': 'true',
      'x-forwarded-user': 'mallory',
      'x-remote-user': 'mallory',
      'x-auth-user': 'mallory',
      'x-authenticated-userid': 'mallory',
    });
    const headers = (await json(res)).headers as Record<string, string>;
    expect(headers['x-journal-user-id']).toBe(alice.userId);
    for (const name of [
      'x-user-id',
      'x-session-id',
      'x-journal-admin',
      'x-forwarded-user',
      'x-remote-user',
      'x-auth-user',
      'x-authenticated-userid',
    ]) {
      expect(headers[name], name).toBeUndefined();
    }
    expect(JSON.stringify(headers)).not.toContain('mallory');
  });

  it('forwards the Authorization header unchanged, so upstreams verify the token themselves', async () => {
    const headers = (await json(await get('/auth/me', bearer(alice)))).headers as Record<
      string,
      string
    >;
    expect(headers.authorization).toBe(`Bearer ${alice.token}`);
  });

  it('public calls carry no identity upstream, even a spoofed one', async () => {
    const res = await fetch(`${gw.url}/auth/login`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-journal-user-id': 'mallory',
        'x-user-id': 'm',
      },
      body: '{}',
    });
    const headers = (await json(res)).headers as Record<string, string>;
    expect(headers['x-journal-user-id']).toBeUndefined();
    expect(headers['x-user-id']).toBeUndefined();
  });

  it('forwards the client’s sane x-request-id upstream and answers with it', async () => {
    const res = await get('/sync/changes', { ...bearer(alice), 'x-request-id': 'client-id-123' });
    expect(res.headers.get('x-request-id')).toBe('client-id-123');
    expect(((await json(res)).headers as Record<string, string>)['x-request-id']).toBe(
      'client-id-123',
    );
  });

  it('replaces an insane x-request-id with a new one, the same upstream and in the reply', async () => {
    const res = await get('/sync/changes', { ...bearer(alice), 'x-request-id': 'bad id <script>' });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await json(res)).headers as Record<string, string>)['x-request-id']).toBe(id);
  });

  it('sets x-forwarded-for to the client address and x-forwarded-proto, dropping a spoofed chain', async () => {
    // The test client is on loopback, a trusted proxy by default: its X-Forwarded-For is believed.
    const res = await get('/sync/changes', { ...bearer(alice), 'x-forwarded-for': '203.0.113.7' });
    const body = await json(res);
    const headers = body.headers as Record<string, string>;
    expect(headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(headers['x-forwarded-proto']).toBe('http');
    // A chain with a private hop in front: only the first untrusted address goes upstream.
    const chained = await get('/sync/changes', {
      ...bearer(alice),
      'x-forwarded-for': '198.51.100.1, 203.0.113.9, 10.0.0.5',
    });
    const h2 = (await json(chained)).headers as Record<string, string>;
    expect(h2['x-forwarded-for']).toBe('203.0.113.9');
  });

  it('logs one line per request with route, status, duration and user, never the token', async () => {
    await get('/sync/changes?x=1', { ...bearer(alice), 'x-request-id': 'log-line-check' });
    await new Promise((r) => setTimeout(r, 50));
    const lines = gw.lines().filter((l) => l.includes('log-line-check'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string);
    expect(line).toMatchObject({
      route: '/sync/changes',
      statusCode: 200,
      userId: alice.userId,
      requestId: 'log-line-check',
    });
    expect(typeof line.durationMs).toBe('number');
    expect(gw.lines().join('\n')).not.toContain(alice.token);
  });
});

describe('streaming', () => {
  it('streams a 16 MiB upload and download through in both directions', async () => {
    const size = 16 * 1024 * 1024;
    const up = await fetch(`${gw.url}/attachments/big-upload`, {
      method: 'PUT',
      headers: { ...bearer(alice), 'content-type': 'application/octet-stream' },
      body: Readable.toWeb(Readable.from(blocks(size))) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const body = await json(up);
    expect(body.bytes).toBe(size);
    expect(body.sha256).toBe(sha256Of(size));

    const down = await get(`/attachments/big?bytes=${size}`, bearer(alice));
    expect(down.headers.get('content-length')).toBe(String(size));
    const hash = createHash('sha256');
    let n = 0;
    for await (const chunk of down.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      n += chunk.length;
    }
    expect(n).toBe(size);
    expect(hash.digest('hex')).toBe(sha256Of(size));
  });
});
