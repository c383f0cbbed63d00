import { JournalClient, MemoryTokenStore, type StoredTokens } from '@journal/client';
import { decodeJwt, importPKCS8, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { countingFetch, PASSWORD, uniqueUser } from './helpers.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('sdk-auth');
});
afterAll(async () => {
  await stack?.stop();
});

async function signedIn(label: string) {
  const counter = countingFetch();
  const tokenStore = new MemoryTokenStore();
  const client = new JournalClient({ baseUrl: stack.gateway, tokenStore, fetch: counter.fetch });
  await client.auth.register({ username: uniqueUser(label), password: PASSWORD });
  const signedOut: string[] = [];
  client.on('signedOut', (e) => signedOut.push(e.reason));
  return { client, tokenStore, counter, signedOut };
}

/** The same session's access token, validly signed but expired an hour ago. */
async function expiredAccessToken(token: string): Promise<string> {
  const claims = decodeJwt(token);
  const key = await importPKCS8(stack.options.keys.privateKeyPem, 'EdDSA');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: claims.sid })
    .setProtectedHeader({ alg: 'EdDSA', kid: stack.options.keys.kid, typ: 'JWT' })
    .setSubject(String(claims.sub))
    .setIssuer(String(claims.iss))
    .setAudience(claims.aud as string)
    .setIssuedAt(now - 7200)
    .setExpirationTime(now - 3600)
    .sign(key);
}

describe('single-flight refresh', () => {
  it('20 concurrent calls with an expired access token: exactly 1 refresh, 0 sign-outs', async () => {
    const { client, tokenStore, counter, signedOut } = await signedIn('race');
    const t = tokenStore.get() as StoredTokens;
    tokenStore.set({ ...t, expiresAt: Date.now() - 1000 });
    const results = await Promise.all(Array.from({ length: 20 }, () => client.auth.me()));
    expect(results.every((u) => u.id === t.user.id)).toBe(true);
    expect(counter.count('POST /auth/refresh')).toBe(1);
    expect(counter.count('GET /auth/me')).toBe(20);
    expect(signedOut).toEqual([]);
    expect(tokenStore.get()?.refreshToken).not.toBe(t.refreshToken);
  });

  it('a server answering 401 to 20 concurrent calls (token expired server-side): 1 refresh, each retried once', async () => {
    const { client, tokenStore, counter, signedOut } = await signedIn('race401');
    const t = tokenStore.get() as StoredTokens;
    // The client believes its token valid (clock skew); the gateway refuses it as expired.
    tokenStore.set({ ...t, accessToken: await expiredAccessToken(t.accessToken) });
    const direct = await fetch(`${stack.gateway}/auth/me`, {
      headers: { authorization: `Bearer ${tokenStore.get()?.accessToken}` },
    });
    expect(direct.status).toBe(401);
    const results = await Promise.all(Array.from({ length: 20 }, () => client.auth.me()));
    expect(results.every((u) => u.id === t.user.id)).toBe(true);
    expect(counter.count('POST /auth/refresh')).toBe(1);
    expect(counter.count('GET /auth/me')).toBe(40);
    expect(signedOut).toEqual([]);
  });

  it('two client instances sharing one token store: 1 refresh between them, 0 sign-outs', async () => {
    const { client: a, tokenStore, counter } = await signedIn('shared');
    const b = new JournalClient({ baseUrl: stack.gateway, tokenStore, fetch: counter.fetch });
    const out: string[] = [];
    a.on('signedOut', (e) => out.push(e.reason));
    b.on('signedOut', (e) => out.push(e.reason));
    const t = tokenStore.get() as StoredTokens;
    tokenStore.set({ ...t, expiresAt: Date.now() - 1000 });
    const calls = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).auth.me());
    await Promise.all(calls);
    expect(counter.count('POST /auth/refresh')).toBe(1);
    expect(out).toEqual([]);
    // Both go on working with the rotated pair.
    expect((await a.auth.sessions()).filter((s) => s.current)).toHaveLength(1);
    expect((await b.auth.me()).id).toBe(t.user.id);
  });

  it('a revoked session signs out once, with an event, and never loops', async () => {
    const { client, tokenStore, counter, signedOut } = await signedIn('revoked');
    const t = tokenStore.get() as StoredTokens;
    // Another device used this refresh token first: the server ends the whole session.
    const reuse = await fetch(`${stack.gateway}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: t.refreshToken }),
    });
    expect(reuse.status).toBe(200);
    const again = await fetch(`${stack.gateway}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: t.refreshToken }),
    });
    expect(again.status).toBe(401);
    const statuses: string[] = [];
    client.on('status', (s) => statuses.push(s));
    await client.entries.put('x1', { a: 1 });
    client.sync.start();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.auth.me()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    for (const r of results) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'signed_out' });
    }
    await client.sync.stop();
    expect(signedOut).toEqual(['revoked']);
    expect(client.auth.isSignedIn()).toBe(false);
    expect(counter.count('POST /auth/refresh')).toBeLessThanOrEqual(2);
    expect(statuses).toContain('signed_out');
    // The unpushed edit is still there for the next sign-in.
    expect(await client.entries.pendingCount()).toBe(1);
  });

  it('logout signs out with reason logout; the old tokens are refused', async () => {
    const { client, tokenStore, signedOut } = await signedIn('logout');
    const t = tokenStore.get() as StoredTokens;
    await client.auth.logout();
    expect(signedOut).toEqual(['logout']);
    const res = await fetch(`${stack.gateway}/auth/me`, {
      headers: { authorization: `Bearer ${t.accessToken}` },
    });
    expect(res.status).toBe(401);
  });
});

describe('account lifecycle (POST /auth/password, DELETE /auth/sessions/{id}, DELETE /auth/account)', () => {
  it('changePassword keeps this session, ends the others (they sign out with an event), old password stops working', async () => {
    const username = uniqueUser('pw');
    const a = new JournalClient({ baseUrl: stack.gateway });
    const b = new JournalClient({ baseUrl: stack.gateway });
    await a.auth.register({ username, password: PASSWORD });
    await b.auth.login({ username, password: PASSWORD });
    const outB: string[] = [];
    b.on('signedOut', (e) => outB.push(e.reason));
    await expect(
      a.auth.changePassword({
        currentPassword: 'not the password',
        newPassword: 'a new password 1',
      }),
    ).rejects.toMatchObject({ code: 'invalid_credentials', status: 401 });
    expect(a.auth.isSignedIn()).toBe(true);
    await a.auth.changePassword({ currentPassword: PASSWORD, newPassword: 'a new password 1' });
    expect((await a.auth.me()).username).toBe(username);
    await expect(b.auth.me()).rejects.toMatchObject({ code: 'signed_out' });
    expect(outB).toEqual(['revoked']);
    const c = new JournalClient({ baseUrl: stack.gateway });
    await expect(c.auth.login({ username, password: PASSWORD })).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
    await c.auth.login({ username, password: 'a new password 1' });
  });

  it('revokeSession ends that device only; revoking the current one signs out here', async () => {
    const username = uniqueUser('rev');
    const a = new JournalClient({ baseUrl: stack.gateway });
    const b = new JournalClient({ baseUrl: stack.gateway });
    await a.auth.register({ username, password: PASSWORD, deviceName: 'a' });
    await b.auth.login({ username, password: PASSWORD, deviceName: 'b' });
    const sessions = await a.auth.sessions();
    const bSession = sessions.find((s) => s.deviceName === 'b');
    await a.auth.revokeSession(bSession?.id as string);
    await expect(b.auth.me()).rejects.toMatchObject({ code: 'signed_out' });
    expect((await a.auth.sessions()).map((s) => s.deviceName)).toEqual(['a']);
    await expect(a.auth.revokeSession('no-such-session')).rejects.toMatchObject({ status: 404 });
    const outA: string[] = [];
    a.on('signedOut', (e) => outA.push(e.reason));
    const own = (await a.auth.sessions())[0];
    await a.auth.revokeSession(own?.id as string);
    expect(outA).toEqual(['revoked']);
    expect(a.auth.isSignedIn()).toBe(false);
  });

  it('deleteAccount answers deletedAt, signs out, and frees the username', async () => {
    const username = uniqueUser('del');
    const a = new JournalClient({ baseUrl: stack.gateway });
    await a.auth.register({ username, password: PASSWORD });
    await a.entries.put('e1', { x: 1 });
    await a.sync.syncNow();
    await expect(a.auth.deleteAccount({ password: 'wrong password!' })).rejects.toMatchObject({
      code: 'invalid_credentials',
    });
    const out: string[] = [];
    a.on('signedOut', (e) => out.push(e.reason));
    const { deletedAt } = await a.auth.deleteAccount({ password: PASSWORD });
    expect(Number.isNaN(Date.parse(deletedAt))).toBe(false);
    expect(out).toEqual(['logout']);
    expect(a.auth.isSignedIn()).toBe(false);
    const again = new JournalClient({ baseUrl: stack.gateway });
    await again.auth.register({ username, password: PASSWORD });
    await again.sync.syncNow();
    expect(await again.entries.list()).toEqual([]);
  });
});

describe('device tokens (a stranger’s failed logins cannot lock this device out)', () => {
  /** A stranger guesses until the username is locked for clients without a device token. */
  async function lockOut(username: string) {
    let status = 0;
    for (let i = 0; i < 30 && status !== 429; i++) {
      const res = await fetch(`${stack.gateway}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: `stranger guess ${i}` }),
      });
      status = res.status;
      await res.body?.cancel();
    }
    expect(status).toBe(429);
  }

  it('keeps the device token per username across sign-out and sends it on the next login', async () => {
    const username = uniqueUser('device');
    const tokenStore = new MemoryTokenStore();
    const counter = countingFetch();
    const client = new JournalClient({ baseUrl: stack.gateway, tokenStore, fetch: counter.fetch });
    await client.auth.register({ username, password: PASSWORD });
    const first = tokenStore.getDeviceToken(username.toLowerCase());
    expect(first).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    await client.auth.logout();
    expect(client.auth.isSignedIn()).toBe(false);
    expect(tokenStore.getDeviceToken(username.toLowerCase())).toBe(first);

    await lockOut(username);
    // Another device (no device token) is refused; this one signs in, and its token renews.
    const stranger = new JournalClient({ baseUrl: stack.gateway });
    await expect(stranger.auth.login({ username, password: PASSWORD })).rejects.toMatchObject({
      code: 'rate_limited',
    });
    const user = await client.auth.login({ username: username.toUpperCase(), password: PASSWORD });
    expect(user.username).toBe(username);
    expect(client.auth.isSignedIn()).toBe(true);
    const renewed = tokenStore.getDeviceToken(username.toLowerCase());
    expect(renewed).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(renewed).not.toBe(first);
    expect(counter.count('POST /auth/login')).toBe(1);
  });

  it('a stored token the server refuses is forgotten and the login goes on without it', async () => {
    const username = uniqueUser('badtoken');
    const tokenStore = new MemoryTokenStore();
    const client = new JournalClient({ baseUrl: stack.gateway, tokenStore });
    await client.auth.register({ username, password: PASSWORD });
    await client.auth.logout();
    tokenStore.setDeviceToken(username.toLowerCase(), 'corrupted token');
    await client.auth.login({ username, password: PASSWORD });
    expect(client.auth.isSignedIn()).toBe(true);
    expect(tokenStore.getDeviceToken(username.toLowerCase())).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('a live session changes the password even while the username is locked', async () => {
    const username = uniqueUser('pwlock');
    const client = new JournalClient({ baseUrl: stack.gateway });
    await client.auth.register({ username, password: PASSWORD });
    await lockOut(username);
    await client.auth.changePassword({
      currentPassword: PASSWORD,
      newPassword: 'a new passphrase',
    });
    expect((await client.auth.me()).username).toBe(username);
  });
});
