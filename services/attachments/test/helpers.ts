import { createHash } from 'node:crypto';
import { createLogger, loadConfig } from '@journal/shared';
import {
  signTestToken,
  silentLogger,
  type TestKeys,
  testKeys,
  testMongo,
  testRedis,
} from '../../../test-support/index.js';
import { buildApp } from '../src/app.js';
import { type Config, configSchema } from '../src/config.js';
import { createContentStore } from '../src/storage/content-store.js';

export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * The attachments app on the run's real MongoDB-wire server and Redis, in a database of its
 * own, with test signing keys; `env` overrides configuration (e.g. the size limit or Qiniu).
 */
export async function startAttachmentsApp(label: string, env: Record<string, string> = {}) {
  const mongo = await testMongo(label);
  const redis = await testRedis(label);
  const keys: TestKeys = await testKeys();
  const config: Config = loadConfig(configSchema, {
    NODE_ENV: 'test',
    MONGODB_URL: 'mongodb://unused.invalid',
    REDIS_URL: 'redis://unused.invalid',
    JWT_PUBLIC_KEYS: keys.jwks,
    ...env,
  });
  const app = await buildApp({
    config,
    logger: process.env.ATT_DEBUG ? createLogger('t', 'error') : silentLogger(),
    db: mongo.db,
    redis: redis.redis,
  });
  await app.ready();
  const store = createContentStore(mongo.db);
  return {
    app,
    config,
    db: mongo.db,
    /** The app's Redis client (its key prefix set). */
    redis: redis.redis,
    keys,
    store,
    /** A bearer header for `userId`. */
    async auth(userId: string): Promise<{ authorization: string }> {
      return { authorization: `Bearer ${await signTestToken(keys, { sub: userId })}` };
    },
    /** Every chunk and files document in the database, whoever owns them. */
    async storedContent() {
      return { chunks: await store.countChunks(), files: await store.countFiles() };
    },
    async close() {
      await app.close();
      await mongo.drop();
      await redis.cleanup();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof startAttachmentsApp>>;
