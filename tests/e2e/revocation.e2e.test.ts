import { performance } from 'node:perf_hooks';
import { importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * Issue 15: every service refuses the access token of an ended session on its own port (around
 * the gateway), within a second, without a Redis round trip per request, and still right after
 * it restarts (the revocation set is loaded from MongoDB before it listens).
 */
let stack: TestStack;
let api: Client;
let direct: { sync: Client; attachments: Client };
const timings: string[] = [];

beforeAll(async () => {
  stack = await startTestStack('e2e-revocation');
  api = client(stack.gateway);
  direct = { sync: client(stack.urls.sync), attachments: client(stack.urls.attachments) };
}, 120_000);

afterAll(async () => {
  console.log(`[revocation] ${timings.join('; ')}`);
  await stack?.stop();
});

const probes = {
  sync: (token: string) => direct.sync.get('/sync/changes', token),
  attachments: (token: string) => direct.attachments.get('/attachments', token),
};

/** Polls a service's own port until it answers 401; returns the ms since `since`. */
async function refusedAfter(
  service: keyof typeof probes,
  token: string,
  since: number,
): Promise<number> {
  for (;;) {
    const res = await probes[service](token);
    if (res.status === 401) {
      expectProblem(res, 401, 'unauthorized');
      return performance.now() - since;
    }
    expect(res.status, res.text).toBe(200);
    if (performance.now() - since > 5_000) throw new Error(`${service} still accepts the token`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function expectAcceptedEverywhere(a: Account) {
  expect((await probes.sync(a.accessToken)).status).toBe(200);
  expect((await probes.attachments(a.accessToken)).status).toBe(200);
  expect((await api.get('/sync/changes', a.accessToken)).status).toBe(200);
}

describe('ended sessions at each service’s own port', () => {
  it('logout: sync and attachments refuse the token within a second', async () => {
    const a = await registerUser(api, 'revoke');
    await expectAcceptedEverywhere(a);
    const start = performance.now();
    const out = await api.post('/auth/logout', {}, a.accessToken);
    expect(out.status).toBe(204);
    const answered = performance.now();
    const afterLogout = answered - start;
    const [sync, attachments] = await Promise.all([
      refusedAfter('sync', a.accessToken, answered),
      refusedAfter('attachments', a.accessToken, answered),
    ]);
    expectProblem(await api.get('/sync/changes', a.accessToken), 401, 'unauthorized');
    // A write is refused as well, not only reads.
    const push = await direct.sync.post(
      '/sync/push',
      { changes: [{ id: 'e1', baseRevision: 0, content: { t: 1 } }] },
      a.accessToken,
    );
    expectProblem(push, 401, 'unauthorized');
    timings.push(
      `logout answered 204 in ${afterLogout.toFixed(0)} ms; 401 after the 204: sync ${sync.toFixed(0)} ms, attachments ${attachments.toFixed(0)} ms`,
    );
    expect(sync).toBeLessThan(1_000);
    expect(attachments).toBeLessThan(1_000);
  });

  it('logout on all devices: every session’s token is refused', async () => {
    const a = await registerUser(api, 'everywhere');
    const second = await api.post<{ accessToken: string }>('/auth/login', {
      username: a.username,
      password: a.password,
      deviceName: 'tablet',
    });
    expect(second.status).toBe(200);
    await expectAcceptedEverywhere(a);
    expect((await api.post('/auth/logout', { allDevices: true }, a.accessToken)).status).toBe(204);
    const start = performance.now();
    for (const token of [a.accessToken, second.body.accessToken]) {
      expect(await refusedAfter('sync', token, start)).toBeLessThan(1_000);
      expect(await refusedAfter('attachments', token, start)).toBeLessThan(1_000);
    }
    // A new login afterwards is a new session, accepted.
    const again = await api.post<{ accessToken: string }>('/auth/login', {
      username: a.username,
      password: a.password,
    });
    expect(again.status).toBe(200);
    expect((await probes.sync(again.body.accessToken)).status).toBe(200);
    expect((await probes.attachments(again.body.accessToken)).status).toBe(200);
  });

  it('refresh-token reuse: the session’s access token is refused', async () => {
    const a = await registerUser(api, 'reuse');
    const first = await api.post<{ accessToken: string }>('/auth/refresh', {
      refreshToken: a.refreshToken,
    });
    expect(first.status).toBe(200);
    expect((await probes.sync(first.body.accessToken)).status).toBe(200);
    const reuse = await api.post('/auth/refresh', { refreshToken: a.refreshToken });
    expect(reuse.status).toBe(401);
    const start = performance.now();
    for (const token of [a.accessToken, first.body.accessToken]) {
      expect(await refusedAfter('sync', token, start)).toBeLessThan(1_000);
      expect(await refusedAfter('attachments', token, start)).toBeLessThan(1_000);
    }
  });

  it('refuses a revoked token right after the service restarts, and still accepts others', async () => {
    const revoked = await registerUser(api, 'before-restart');
    const kept = await registerUser(api, 'kept');
    expect((await api.post('/auth/logout', {}, revoked.accessToken)).status).toBe(204);
    for (const service of ['sync', 'attachments'] as const) {
      await stack.kill(service);
      await stack.restart(service);
      // The very first request after the port opens.
      expectProblem(await probes[service](revoked.accessToken), 401, 'unauthorized');
      expect((await probes[service](kept.accessToken)).status).toBe(200);
    }
    // And a logout after the restart reaches the new processes over pub/sub.
    const start = performance.now();
    expect((await api.post('/auth/logout', {}, kept.accessToken)).status).toBe(204);
    const answered = performance.now();
    const [sync, attachments] = await Promise.all([
      refusedAfter('sync', kept.accessToken, answered),
      refusedAfter('attachments', kept.accessToken, answered),
    ]);
    timings.push(
      `after restarts: logout 204 in ${(answered - start).toFixed(0)} ms; 401 after the 204 at sync ${sync.toFixed(0)} ms, attachments ${attachments.toFixed(0)} ms`,
    );
    expect(sync).toBeLessThan(1_000);
    expect(attachments).toBeLessThan(1_000);
  }, 90_000);

  it('refuses validly signed tokens issued in the future or living too long, at every port', async () => {
    const a = await registerUser(api, 'forged');
    const claims = JSON.parse(
      Buffer.from(a.accessToken.split('.')[1] as string, 'base64url').toString(),
    ) as { sub: string; sid: string; iss: string; aud: string };
    const key = await importPKCS8(stack.options.keys.privateKeyPem, 'EdDSA');
    const now = Math.floor(Date.now() / 1000);
    const forge = (iat: number, exp: number) =>
      new SignJWT({ sid: claims.sid })
        .setProtectedHeader({ alg: 'EdDSA', kid: stack.options.keys.kid, typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuer(claims.iss)
        .setAudience(claims.aud)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(key);
    const fine = await forge(now, now + 3600);
    const future = await forge(now + 3600, now + 7000);
    const tooLong = await forge(now, now + 30 * 86_400);
    for (const c of [api, direct.sync]) {
      expect((await c.get('/sync/changes', fine)).status).toBe(200);
      expectProblem(await c.get('/sync/changes', future), 401, 'unauthorized');
      expectProblem(await c.get('/sync/changes', tooLong), 401, 'unauthorized');
    }
    expect((await direct.attachments.get('/attachments', fine)).status).toBe(200);
    expectProblem(await direct.attachments.get('/attachments', future), 401, 'unauthorized');
    expectProblem(await direct.attachments.get('/attachments', tooLong), 401, 'unauthorized');
    const auth = client(stack.urls.auth);
    expectProblem(await auth.get('/auth/me', tooLong), 401, 'unauthorized');
  });
});
