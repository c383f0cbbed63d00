import type { AddressInfo } from 'node:net';
import { sessionKey } from '@journal/shared';
import Fastify from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../../test-support/client.js';
import {
  signTestToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  testKeys,
} from '../../../test-support/index.js';
import { type GatewayHarness, type Session, startGateway } from './helpers.js';

let gw: GatewayHarness;
let alice: Session;

beforeAll(async () => {
  gw = await startGateway({ LOG_LEVEL: 'warn' });
  alice = await gw.session();
});
afterAll(async () => {
  await gw?.close();
});

async function call(path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(`${gw.url}${path}`, { method, headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text,
  };
}
const withToken = (token: string) => ({ authorization: `Bearer ${token}` });
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function reachedUpstream(): number {
  return Object.values(gw.upstreams).reduce((n, u) => n + u.seen.length, 0);
}

describe('public calls', () => {
  it.each([
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['POST', '/auth/refresh'],
    ['POST', '/storage/qiniu/callback'],
  ])('%s %s goes through without a token', async (method, path) => {
    const res = await call(path, { 'content-type': 'application/json' }, method);
    expect(res.status).toBe(200);
    expect(res.body.url).toBe(path);
  });

  it('a public path with another method, or a query, is judged by method and path', async () => {
    expectProblem(await call('/auth/login', {}, 'GET'), 401, 'unauthorized');
    const res = await call('/auth/login?x=1', { 'content-type': 'application/json' }, 'POST');
    expect(res.status).toBe(200);
  });
});

describe('calls that need a live session', () => {
  it.each([
    // The whole table of which calls are public is test/unit/calls.test.ts.
    ['GET', '/auth/me'],
    ['PUT', '/attachments/a1'],
    ['HEAD', '/attachments/a1'],
    ['GET', '/sync/no-such-path'],
  ])('%s %s without a token answers 401 and never reaches the upstream', async (method, path) => {
    const before = reachedUpstream();
    const res = await call(path, {}, method);
    expect(res.status).toBe(401);
    if (method !== 'HEAD') expectProblem(res, 401, 'unauthorized');
    expect(reachedUpstream()).toBe(before);
  });

  it('accepts a good token with a live session', async () => {
    const res = await call('/auth/me', withToken(alice.token));
    expect(res.status).toBe(200);
  });

  it.each([
    ['Basic dXNlcjpwYXNz'],
    ['Bearer'],
    ['Bearer '],
    ['Bearer not-a-jwt'],
    ['Bearer a.b.c'],
    ['bearer\tx'],
  ])('refuses the malformed Authorization header %j', async (header) => {
    expectProblem(await call('/sync/changes', { authorization: header }), 401, 'unauthorized');
  });
});

describe('token forgery', () => {
  it('refuses a token whose payload was changed', async () => {
    const [h, p, s] = alice.token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = `${h}.${b64({ ...payload, sub: 'mallory' })}.${s}`;
    expectProblem(await call('/sync/changes', withToken(forged)), 401, 'unauthorized');
  });

  it('refuses alg "none"', async () => {
    const payload = JSON.parse(
      Buffer.from(alice.token.split('.')[1] as string, 'base64url').toString(),
    );
    const unsigned = `${b64({ alg: 'none', typ: 'JWT', kid: gw.keys.kid })}.${b64(payload)}.`;
    expectProblem(await call('/sync/changes', withToken(unsigned)), 401, 'unauthorized');
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    for (const secret of [
      gw.keys.jwks,
      JSON.stringify(gw.keys.publicJwk),
      gw.keys.publicJwk.x as string,
    ]) {
      const forged = await new SignJWT({ sid: alice.sessionId })
        .setProtectedHeader({ alg: 'HS256', kid: gw.keys.kid })
        .setSubject(alice.userId)
        .setIssuer(TEST_ISSUER)
        .setAudience(TEST_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(secret));
      expectProblem(await call('/sync/changes', withToken(forged)), 401, 'unauthorized');
    }
  });

  it('refuses a token signed by another key, with an unknown kid or a trusted one', async () => {
    const other = await testKeys('other-key');
    const unknownKid = await signTestToken(other, { sub: alice.userId, sid: alice.sessionId });
    expectProblem(await call('/sync/changes', withToken(unknownKid)), 401, 'unauthorized');
    const sameKid = await testKeys(gw.keys.kid);
    const impostor = await signTestToken(sameKid, { sub: alice.userId, sid: alice.sessionId });
    expectProblem(await call('/sync/changes', withToken(impostor)), 401, 'unauthorized');
  });

  it('refuses a wrong issuer or audience', async () => {
    const iss = await signTestToken(gw.keys, {
      sub: alice.userId,
      sid: alice.sessionId,
      iss: 'evil',
    });
    const aud = await signTestToken(gw.keys, {
      sub: alice.userId,
      sid: alice.sessionId,
      aud: 'other',
    });
    expectProblem(await call('/sync/changes', withToken(iss)), 401, 'unauthorized');
    expectProblem(await call('/sync/changes', withToken(aud)), 401, 'unauthorized');
  });

  it('answers token_expired for an expired token', async () => {
    const expired = await signTestToken(gw.keys, {
      sub: alice.userId,
      sid: alice.sessionId,
      expiresIn: Math.floor(Date.now() / 1000) - 5,
    });
    expectProblem(await call('/sync/changes', withToken(expired)), 401, 'token_expired');
  });

  it('answers token_expired once a cached token expires', async () => {
    // A few seconds of life (a slow machine's first call must still find it valid), then past it.
    const exp = Math.floor(Date.now() / 1000) + 4;
    const s = await gw.session(undefined, { expiresIn: exp });
    expect((await call('/sync/changes', withToken(s.token))).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 1_100));
    expectProblem(await call('/sync/changes', withToken(s.token)), 401, 'token_expired');
  });

  it('refuses a token whose session belongs to another user', async () => {
    const bob = await gw.session();
    const stolen = await signTestToken(gw.keys, { sub: alice.userId, sid: bob.sessionId });
    expectProblem(await call('/sync/changes', withToken(stolen)), 401, 'unauthorized');
  });

  it('refuses a token whose session was revoked, at once, though the token is cached', async () => {
    const s = await gw.session();
    expect((await call('/sync/changes', withToken(s.token))).status).toBe(200);
    await gw.redis.del(sessionKey(s.sessionId));
    expectProblem(await call('/sync/changes', withToken(s.token)), 401, 'unauthorized');
    // A session that was never written is no better.
    const ghost = await signTestToken(gw.keys, { sub: 'ghost', sid: 'never-written' });
    expectProblem(await call('/sync/changes', withToken(ghost)), 401, 'unauthorized');
  });

  it('refuses a session value that is not the contract’s JSON', async () => {
    const s = await gw.session();
    await gw.redis.set(sessionKey(s.sessionId), 'not json');
    expectProblem(await call('/sync/changes', withToken(s.token)), 401, 'unauthorized');
  });
});

describe('keys from a JWKS URL', () => {
  it('answers 503, not 500, while the JWKS cannot be fetched', async () => {
    const closed = Fastify();
    await closed.listen({ host: '127.0.0.1', port: 0 });
    const port = (closed.server.address() as AddressInfo).port;
    await closed.close();
    const remote = await startGateway(
      {
        LOG_LEVEL: 'silent',
        JWT_PUBLIC_KEYS: '',
        JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
      },
      { upstreams: gw.upstreams },
    );
    try {
      const res = await fetch(`${remote.url}/sync/changes`, { headers: withToken(alice.token) });
      const text = await res.text();
      expectProblem(
        { status: res.status, headers: res.headers, body: JSON.parse(text), text },
        503,
        'upstream_unavailable',
      );
    } finally {
      await remote.app.close();
      remote.redis.disconnect();
    }
  });

  it('verifies tokens with keys fetched from JWT_JWKS_URL, fetching once', async () => {
    const keys = await testKeys('remote-key');
    let fetches = 0;
    const jwksServer = Fastify();
    jwksServer.get('/.well-known/jwks.json', async () => {
      fetches++;
      return JSON.parse(keys.jwks);
    });
    await jwksServer.listen({ host: '127.0.0.1', port: 0 });
    const port = (jwksServer.server.address() as AddressInfo).port;
    const remote = await startGateway(
      {
        LOG_LEVEL: 'warn',
        JWT_PUBLIC_KEYS: '',
        JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      },
      { upstreams: gw.upstreams },
    );
    try {
      await remote.redis.set(sessionKey('remote-sid'), JSON.stringify({ userId: 'u-remote' }));
      for (let i = 0; i < 5; i++) {
        const token = await signTestToken(keys, {
          sub: 'u-remote',
          sid: 'remote-sid',
          // Distinct tokens, each within the access-token lifetime (3600 s).
          expiresIn: `${50 + i}m`,
        });
        const res = await fetch(`${remote.url}/sync/changes`, { headers: withToken(token) });
        expect(res.status).toBe(200);
      }
      expect(fetches).toBe(1);
      const foreign = await signTestToken(gw.keys, { sub: 'u-remote', sid: 'remote-sid' });
      const res = await fetch(`${remote.url}/sync/changes`, { headers: withToken(foreign) });
      expect(res.status).toBe(401);
    } finally {
      await remote.app.close();
      remote.redis.disconnect();
      await jwksServer.close();
    }
  });
});
