import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  connectMongo,
  connectRedis,
  createLogger,
  type Logger,
  type MongoHandle,
} from '@journal/shared';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { inject } from 'vitest';

/** A short random suffix so test files and runs never share a database or key space. */
export function uniqueName(label: string): string {
  return `t_${label.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
}

export function mongoUrl(): string {
  return inject('mongoUrl');
}

export function redisUrl(): string {
  return inject('redisUrl');
}

/** A database of its own on the run's real MongoDB-wire server; `drop()` removes it. */
export async function testMongo(
  label: string,
  clientOptions?: Parameters<typeof connectMongo>[1]['clientOptions'],
) {
  const dbName = uniqueName(label);
  const handle: MongoHandle = await connectMongo(mongoUrl(), {
    dbName,
    connectTimeoutMs: 30_000,
    ...(clientOptions ? { clientOptions } : {}),
  });
  return {
    ...handle,
    dbName,
    async drop() {
      await handle.db.dropDatabase().catch(() => {});
      await handle.close();
    },
  };
}

/** A Redis client on the run's real Redis, with a key prefix of its own. */
export async function testRedis(label: string) {
  const keyPrefix = `${uniqueName(label)}:`;
  const redis = await connectRedis(redisUrl(), { connectTimeoutMs: 30_000 });
  return {
    redis,
    keyPrefix,
    async cleanup() {
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

/** Log lines captured in memory (for asserting redaction); silent otherwise. */
export function captureLogger(
  service = 'test',
  level = 'info',
): { logger: Logger; lines: () => string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger(service, level, sink), lines: () => lines };
}

export function silentLogger(): Logger {
  return createLogger('test', 'silent');
}

export interface TestKeys {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
  /** JWKS JSON text, as JWT_PUBLIC_KEYS takes it. */
  jwks: string;
}

export async function testKeys(kid = 'test-key-1'): Promise<TestKeys> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { kid, privateKey, publicJwk, jwks: JSON.stringify({ keys: [publicJwk] }) };
}

export const TEST_ISSUER = 'journal-auth';
export const TEST_AUDIENCE = 'journal';

/** An access token as the auth service issues them, for testing the services that verify. */
export async function signTestToken(
  keys: TestKeys,
  claims: { sub: string; sid?: string; expiresIn?: number | string; iss?: string; aud?: string },
): Promise<string> {
  return new SignJWT({ sid: claims.sid ?? `sess-${claims.sub}` })
    .setProtectedHeader({ alg: 'EdDSA', kid: keys.kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(claims.iss ?? TEST_ISSUER)
    .setAudience(claims.aud ?? TEST_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '1h')
    .sign(keys.privateKey);
}
