import type { AddressInfo } from 'node:net';
import { sessionKey } from '@journal/shared';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayHarness, type Session, startGateway } from './helpers.js';

/** What the two stand-in services answer; tests switch it. */
const mode = { sync: 'ok', attachments: 'ok' } as Record<'sync' | 'attachments', string>;
const seen: { path: string; authorization: string | undefined }[] = [];

function standIn(name: 'sync' | 'attachments'): FastifyInstance {
  const app = Fastify({ logger: false });
  const path = name === 'sync' ? '/sync/usage' : '/storage/usage';
  app.get(path, async (request, reply) => {
    seen.push({ path, authorization: request.headers.authorization });
    const m = mode[name];
    if (m === 'slow') await new Promise((r) => setTimeout(r, 3000));
    if (m === 'unauthorized') {
      return reply.code(401).type('application/problem+json').send({
        type: 'https://journal.dev/problems/unauthorized',
        title: 'Unauthorized',
        status: 401,
        detail: 'the session has ended',
        code: 'unauthorized',
      });
    }
    if (m === 'garbage') return { hello: 'world' };
    return name === 'sync'
      ? { entries: { usage: 3, limit: 100000 }, entryBytes: { usage: 120, limit: null } }
      : { attachments: { usage: 1, limit: 20000 }, attachmentBytes: { usage: 9, limit: 1024 } };
  });
  return app;
}

let gw: GatewayHarness;
let alice: Session;
const upstreams: FastifyInstance[] = [];

beforeAll(async () => {
  const urls: string[] = [];
  for (const name of ['sync', 'attachments'] as const) {
    const app = standIn(name);
    await app.listen({ host: '127.0.0.1', port: 0 });
    upstreams.push(app);
    urls.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
  }
  gw = await startGateway({
    LOG_LEVEL: 'silent',
    UPSTREAM_TIMEOUT_MS: '600',
    SYNC_URL: urls[0] as string,
    ATTACHMENTS_URL: urls[1] as string,
  });
  alice = await gw.session();
});
afterAll(async () => {
  await gw?.close();
  for (const app of upstreams) await app.close();
});

async function usage(headers: Record<string, string> = { authorization: `Bearer ${alice.token}` }) {
  const res = await fetch(`${gw.url}/usage`, { headers });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(text) };
}

describe('GET /usage at the gateway', () => {
  it('joins the two services’ answers, asked with the caller’s own token', async () => {
    mode.sync = mode.attachments = 'ok';
    seen.length = 0;
    const res = await usage();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      entries: { usage: 3, limit: 100000 },
      entryBytes: { usage: 120, limit: null },
      attachments: { usage: 1, limit: 20000 },
      attachmentBytes: { usage: 9, limit: 1024 },
    });
    expect(seen.map((s) => s.path).sort()).toEqual(['/storage/usage', '/sync/usage']);
    for (const s of seen) expect(s.authorization).toBe(`Bearer ${alice.token}`);
  });

  it('answers 401 without a token, with a bad one, or for an ended session, asking no service', async () => {
    seen.length = 0;
    const none = await usage({});
    expect(none.status).toBe(401);
    expect(none.type).toMatch(/application\/problem\+json/);
    expect(none.body.code).toBe('unauthorized');
    expect((await usage({ authorization: 'Bearer x.y.z' })).status).toBe(401);
    expect((await usage({ authorization: 'Basic YTpi' })).status).toBe(401);
    const ended = await gw.session();
    await gw.redis.del(sessionKey(ended.sessionId));
    expect((await usage({ authorization: `Bearer ${ended.token}` })).status).toBe(401);
    expect(seen).toEqual([]);
  });

  it('passes a service’s refusal of the caller on (401)', async () => {
    mode.sync = 'unauthorized';
    const res = await usage();
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ code: 'unauthorized', detail: 'the session has ended' });
    mode.sync = 'ok';
  });

  it('answers 502 for a reply of another shape, 504 for a late one, 503 for a service down: never a 500', async () => {
    mode.attachments = 'garbage';
    const bad = await usage();
    expect(bad.status).toBe(502);
    expect(bad.body.code).toBe('upstream_unavailable');
    mode.attachments = 'slow';
    const late = await usage();
    expect(late.status).toBe(504);
    expect(late.body.code).toBe('upstream_unavailable');
    mode.attachments = 'ok';
    await upstreams[0]?.close();
    const down = await usage();
    expect(down.status).toBe(503);
    expect(down.body.code).toBe('upstream_unavailable');
  });
});
