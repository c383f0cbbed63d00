import { connectRedis, loadConfig } from '@journal/shared';
import { exportPKCS8, generateKeyPair } from 'jose';
import {
  captureLogger,
  mongoUrl,
  redisUrl,
  testMongo,
  testRedis,
} from '../../../test-support/index.js';
import { buildApp } from '../src/app.js';
import { configSchema } from '../src/config.js';

export type AuthApp = Awaited<ReturnType<typeof buildApp>>;

/** A fresh Ed25519 key as JWT_PRIVATE_KEY takes it. */
export async function pemKey() {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return exportPKCS8(privateKey);
}

/**
 * A real database and Redis key prefix for one test file, and a way to build auth apps on them
 * with any configuration (cheap scrypt cost unless a test asks for more).
 */
export async function authHarness(label: string) {
  const mongo = await testMongo(label);
  const raw = await testRedis(label);
  const redis = await connectRedis(redisUrl(), {
    connectTimeoutMs: 30_000,
    options: { keyPrefix: raw.keyPrefix },
  });
  const apps: AuthApp[] = [];
  const signingKey = await pemKey();

  async function build(env: Record<string, string> = {}) {
    const config = loadConfig(configSchema, {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      MONGODB_URL: mongoUrl(),
      MONGODB_DB_NAME: mongo.dbName,
      REDIS_URL: redisUrl(),
      REDIS_KEY_PREFIX: raw.keyPrefix,
      JWT_PRIVATE_KEY: signingKey,
      JWT_KEY_ID: 'test-signing-key',
      PASSWORD_SCRYPT_LOG_N: '10',
      // Tests register many users from one address; the rate-limit tests set their own.
      AUTH_REGISTER_MAX_PER_IP: '100000',
      AUTH_LOGIN_MAX_FAILURES_PER_IP: '100000',
      ...env,
    });
    const { logger, lines } = captureLogger('auth', config.LOG_LEVEL);
    const app = await buildApp({ config, logger, db: mongo.db, redis });
    await app.ready();
    apps.push(app);
    return { app, config, lines };
  }

  return {
    db: mongo.db,
    redis,
    /** A client without the key prefix, to look at raw keys. */
    rawRedis: raw.redis,
    keyPrefix: raw.keyPrefix,
    signingKey,
    build,
    async close() {
      await Promise.all(apps.map((a) => a.close()));
      redis.disconnect();
      await raw.cleanup();
      await mongo.drop();
    },
  };
}

let counter = 0;
/** A username unique within the run. */
export function username(label = 'user'): string {
  counter += 1;
  return `${label}${counter}_${Math.random().toString(36).slice(2, 8)}`;
}

export const PASSWORD = 'correct horse battery staple';

export async function register(
  app: AuthApp,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return app.inject({ method: 'POST', url: '/auth/register', payload: body, headers });
}

export async function login(
  app: AuthApp,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return app.inject({ method: 'POST', url: '/auth/login', payload: body, headers });
}

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

/** Registers a fresh user and returns its Session reply. */
export async function newUser(
  app: AuthApp,
  deviceName?: string,
  headers: Record<string, string> = {},
) {
  const name = username();
  const res = await register(
    app,
    { username: name, password: PASSWORD, ...(deviceName ? { deviceName } : {}) },
    headers,
  );
  if (res.statusCode !== 201) throw new Error(`register failed: ${res.statusCode} ${res.body}`);
  return { username: name, session: res.json() as SessionBody };
}

export interface SessionBody {
  user: { id: string; username: string; createdAt: string };
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresIn: number;
}
