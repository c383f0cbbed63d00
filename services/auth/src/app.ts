import { createServiceApp, type Logger, pingMongo, pingRedis, type Redis } from '@journal/shared';
import type { Db } from 'mongodb';
import type { Config } from './config.js';

export const SERVICE = 'auth';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Db;
  redis: Redis;
  version?: string;
}

/** Builds the auth service's fastify app; never listens (main.ts does). */
export async function buildApp(deps: AppDeps) {
  const app = await createServiceApp({
    service: SERVICE,
    version: deps.version ?? '0.0.0',
    logger: deps.logger,
    trustProxy: deps.config.TRUST_PROXY,
    checks: {
      mongodb: () => pingMongo(deps.db),
      redis: () => pingRedis(deps.redis),
    },
  });
  return app;
}
