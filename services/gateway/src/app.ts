import { createServiceApp, type Logger, pingRedis, type Redis } from '@journal/shared';
import type { Config } from './config.js';

export const SERVICE = 'gateway';

export interface AppDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  version?: string;
}

/** Builds the gateway's fastify app; never listens (main.ts does). */
export async function buildApp(deps: AppDeps) {
  const app = await createServiceApp({
    service: SERVICE,
    version: deps.version ?? '0.0.0',
    logger: deps.logger,
    trustProxy: deps.config.TRUST_PROXY,
    checks: {
      redis: () => pingRedis(deps.redis),
    },
  });
  return app;
}
