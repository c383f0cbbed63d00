import { createHmac } from 'node:crypto';
import { ConfigError, loadConfig, sessionKey } from '@journal/shared';
import { exportJWK, exportPKCS8, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../../../test-support/index.js';
import { buildApp } from '../src/app.js';
import { configSchema } from '../src/config.js';
import { type AuthApp, authHarness, bearer, newUser, pemKey } from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
let app: AuthApp;
beforeAll(async () => {
  h = await authHarness('tokens');
  app = (await h.build()).app;
});
afterAll(() => h.close());

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString());
const me = (token: string, on: AuthApp = app) =>
  on.inject({ method: 'GET', url: '/auth/me', headers: bearer(token) });

async function expect401(token: string, code = 'unauthorized') {
  for (const [method, url] of [
    ['GET', '/auth/me'],
    ['GET', '/auth/sessions'],
    ['POST', '/auth/logout'],
  ] as const) {
    const res = await app.inject({ method, url, headers: bearer(token) });
    expect(res.statusCode, url).toBe(401);
    expect(res.json().code, url).toBe(code);
  }
}

describe('access tokens', () => {
  it('are EdDSA JWTs with kid and the sub, sid, iat, exp, iss, aud claims', async () => {
    const { session } = await newUser(app);
    const [header, payload] = session.accessToken.split('.') as [string, string];
    expect(decode(header)).toEqual({ alg: 'EdDSA', kid: 'test-signing-key', typ: 'JWT' });
    const claims = decode(payload);
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'sid', 'sub']);
    expect(claims).toMatchObject({ sub: session.user.id, iss: 'journal-auth', aud: 'journal' });
    expect(claims.exp - claims.iat).toBe(3600);
    expect(await h.redis.exists(sessionKey(claims.sid))).toBe(1);
  });

  it('honour JWT_ACCESS_TTL_SECONDS, JWT_ISSUER and JWT_AUDIENCE', async () => {
    const custom = (
      await h.build({
        JWT_ACCESS_TTL_SECONDS: '120',
        JWT_ISSUER: 'other-issuer',
        JWT_AUDIENCE: 'other-aud',
      })
    ).app;
    const { session } = await newUser(custom);
    expect(session.expiresIn).toBe(120);
    const claims = decode(session.accessToken.split('.')[1] as string);
    expect(claims).toMatchObject({ iss: 'other-issuer', aud: 'other-aud' });
    expect(claims.exp - claims.iat).toBe(120);
    expect(await h.redis.ttl(sessionKey(claims.sid))).toBeLessThanOrEqual(120);
    expect((await me(session.accessToken, custom)).statusCode).toBe(200);
    // The default app expects another iss/aud: refused.
    await expect401(session.accessToken);
  });

  it('refuses expired tokens with token_expired', async () => {
    const { session } = await newUser(app);
    const sid = decode(session.accessToken.split('.')[1] as string).sid;
    const { importPKCS8 } = await import('jose');
    const key = await importPKCS8(h.signingKey, 'EdDSA');
    const expired = await new SignJWT({ sid })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'test-signing-key' })
      .setSubject(session.user.id)
      .setIssuer('journal-auth')
      .setAudience('journal')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(key);
    await expect401(expired, 'token_expired');
  });

  it('refuses tampered, alg none, HS256-with-the-public-key, wrong kid, wrong iss and aud', async () => {
    const { session } = await newUser(app);
    const other = await newUser(app);
    const [header, payload, signature] = session.accessToken.split('.') as [string, string, string];
    const claims = decode(payload);

    // Tampered payload: claims another user's id under the original signature.
    await expect401(`${header}.${b64({ ...claims, sub: other.session.user.id })}.${signature}`);
    // alg none.
    await expect401(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`);
    // HS256 with the public key as the HMAC secret.
    const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    for (const secret of [JSON.stringify(jwks.keys[0]), jwks.keys[0].x as string]) {
      const hsHeader = b64({ alg: 'HS256', kid: 'test-signing-key', typ: 'JWT' });
      const hsSig = createHmac('sha256', secret)
        .update(`${hsHeader}.${payload}`)
        .digest('base64url');
      await expect401(`${hsHeader}.${payload}.${hsSig}`);
    }
    // Signed by an unknown key, under the right kid and under another one.
    const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const sign = (kid: string, extra: { iss?: string; aud?: string } = {}) =>
      new SignJWT({ sid: claims.sid })
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setSubject(claims.sub)
        .setIssuer(extra.iss ?? 'journal-auth')
        .setAudience(extra.aud ?? 'journal')
        .setIssuedAt()
        .setExpirationTime('1h');
    await expect401(await sign('test-signing-key').sign(stranger.privateKey));
    await expect401(await sign('unknown-kid').sign(stranger.privateKey));
    // The right key but the wrong issuer or audience.
    const { importPKCS8 } = await import('jose');
    const key = await importPKCS8(h.signingKey, 'EdDSA');
    expect((await me(await sign('test-signing-key').sign(key))).statusCode).toBe(200);
    await expect401(await sign('test-signing-key', { iss: 'evil' }).sign(key));
    await expect401(await sign('test-signing-key', { aud: 'evil' }).sign(key));
    await expect401('not-a-jwt');
  });
});

describe('keys', () => {
  it('serves the public keys at /.well-known/jwks.json, without private parts', async () => {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json();
    expect(keys).toEqual([
      expect.objectContaining({
        kty: 'OKP',
        crv: 'Ed25519',
        kid: 'test-signing-key',
        alg: 'EdDSA',
      }),
    ]);
    expect(JSON.stringify(keys)).not.toMatch(/"d"/);
  });

  it('rotates keys without logging anyone out: old tokens verify while the old key is trusted', async () => {
    const { session } = await newUser(app);
    const oldJwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body;
    const rotated = (
      await h.build({
        JWT_PRIVATE_KEY: await pemKey(),
        JWT_KEY_ID: 'key-2',
        JWT_PUBLIC_KEYS: oldJwks,
      })
    ).app;
    // A token signed by the old key still works on the rotated service...
    expect((await me(session.accessToken, rotated)).statusCode).toBe(200);
    // ...new tokens carry the new kid, and the JWKS lists both keys, the signing key first.
    const fresh = (await newUser(rotated)).session;
    expect(decode(fresh.accessToken.split('.')[0] as string).kid).toBe('key-2');
    const kids = (await rotated.inject({ method: 'GET', url: '/.well-known/jwks.json' }))
      .json()
      .keys.map((k: { kid: string }) => k.kid);
    expect(kids).toEqual(['key-2', 'test-signing-key']);
    // Without the old key in JWT_PUBLIC_KEYS, old tokens are refused.
    const forgetful = (await h.build({ JWT_PRIVATE_KEY: await pemKey(), JWT_KEY_ID: 'key-3' })).app;
    expect((await me(session.accessToken, forgetful)).statusCode).toBe(401);
  });

  it('accepts the signing key as a private JWK and takes its kid', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'jwk-key' };
    const jwkApp = (await h.build({ JWT_PRIVATE_KEY: JSON.stringify(jwk), JWT_KEY_ID: '' })).app;
    const { session } = await newUser(jwkApp);
    expect(decode(session.accessToken.split('.')[0] as string).kid).toBe('jwk-key');
    expect((await me(session.accessToken, jwkApp)).statusCode).toBe(200);
  });

  it('makes an ephemeral key with a warning outside production when no key is set', async () => {
    const { logger, lines } = captureLogger('auth');
    const config = loadConfig(configSchema, {
      NODE_ENV: 'development',
      MONGODB_URL: 'mongodb://127.0.0.1:1/',
      REDIS_URL: 'redis://127.0.0.1:1',
      PASSWORD_SCRYPT_LOG_N: '10',
    });
    const ephemeral = await buildApp({ config, logger, db: h.db, redis: h.redis });
    const { session } = await newUser(ephemeral);
    expect((await me(session.accessToken, ephemeral)).statusCode).toBe(200);
    expect(lines().some((l) => /"level":"warn".*ephemeral key/.test(l))).toBe(true);
    await ephemeral.close();
  });
});

describe('configuration', () => {
  const base = {
    MONGODB_URL: 'mongodb://db:27017/',
    REDIS_URL: 'redis://cache:6379',
  };
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig(configSchema, env);
      return 'accepted';
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
  };

  it('refuses to start in production without JWT_PRIVATE_KEY or with a cheap scrypt cost', async () => {
    expect(problem({ ...base, NODE_ENV: 'production' })).toMatch(/JWT_PRIVATE_KEY: is required/);
    const key = await pemKey();
    expect(problem({ ...base, NODE_ENV: 'production', JWT_PRIVATE_KEY: key })).toBe('accepted');
    expect(
      problem({
        ...base,
        NODE_ENV: 'production',
        JWT_PRIVATE_KEY: key,
        PASSWORD_SCRYPT_LOG_N: '14',
      }),
    ).toMatch(/PASSWORD_SCRYPT_LOG_N: must be at least 17/);
    expect(problem({ ...base, NODE_ENV: 'test', PASSWORD_SCRYPT_LOG_N: '10' })).toBe('accepted');
  });

  it('refuses a signing key that is not Ed25519, without echoing it', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const ecPem = await exportPKCS8(privateKey);
    for (const bad of [ecPem, 'garbage-secret-value', '{"kty":"OKP"}']) {
      const message = problem({ ...base, JWT_PRIVATE_KEY: bad });
      expect(message).toMatch(/JWT_PRIVATE_KEY: must be an Ed25519 private key/);
      expect(message).not.toContain('garbage-secret-value');
      expect(message).not.toContain('PRIVATE KEY-----');
    }
  });

  it('uses the documented defaults', () => {
    const config = loadConfig(configSchema, base);
    expect(config).toMatchObject({
      PORT: 8001,
      JWT_ACCESS_TTL_SECONDS: 3600,
      JWT_REFRESH_TTL_SECONDS: 30 * 86_400,
      PASSWORD_SCRYPT_LOG_N: 17,
      AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: 10,
      AUTH_LOGIN_MAX_FAILURES_PER_IP: 50,
      AUTH_LOGIN_FAILURE_WINDOW_SECONDS: 900,
      AUTH_REGISTER_MAX_PER_IP: 20,
      AUTH_REGISTER_WINDOW_SECONDS: 3600,
    });
  });
});
