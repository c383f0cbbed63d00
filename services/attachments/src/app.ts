import {
  authenticatePlugin,
  createServiceApp,
  type Logger,
  pingMongo,
  pingRedis,
  type Redis,
  tokenVerifierFromConfig,
} from '@journal/shared';
import type { Db } from 'mongodb';
import { createAttachmentsMetrics } from './attachments/metrics.js';
import { createAttachmentsRepository } from './attachments/repository.js';
import { createAttachmentsService } from './attachments/service.js';
import type { Config } from './config.js';
import { createQiniu } from './qiniu/qiniu.js';
import { createQiniuUploadsRepository } from './qiniu/uploads-repository.js';
import { attachmentRoutes } from './routes/attachments.js';
import { qiniuRoutes } from './routes/qiniu.js';
import { createContentStore } from './storage/content-store.js';

export const SERVICE = 'attachments';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Db;
  redis: Redis;
  version?: string;
}

/** Builds the attachments service's fastify app; never listens (main.ts does). */
export async function buildApp(deps: AppDeps) {
  const { config, db } = deps;
  const app = await createServiceApp({
    service: SERVICE,
    version: deps.version ?? '0.0.0',
    logger: deps.logger,
    trustProxy: config.TRUST_PROXY,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    checks: {
      mongodb: () => pingMongo(db),
      redis: () => pingRedis(deps.redis),
    },
  });

  // Every call but Qiniu's callback carries a bearer token this service verifies itself.
  await app.register(authenticatePlugin, {
    verify: tokenVerifierFromConfig(config),
  });

  // Storage and repositories, their indexes created before the first request.
  const metrics = createAttachmentsMetrics(app.metrics);
  const store = createContentStore(db);
  const repository = createAttachmentsRepository(db);
  const uploads = createQiniuUploadsRepository(db);
  await Promise.all([store.ensureIndexes(), repository.ensureIndexes(), uploads.ensureIndexes()]);
  const service = createAttachmentsService({
    repository,
    store,
    metrics,
    logger: deps.logger,
    maxBytes: config.ATTACHMENTS_MAX_BYTES,
  });

  await attachmentRoutes(app, { service, store, metrics, maxBytes: config.ATTACHMENTS_MAX_BYTES });
  await qiniuRoutes(app, {
    qiniu: createQiniu(config),
    uploads,
    metrics,
    callbackUrl: config.QINIU_CALLBACK_URL,
  });
  return app;
}
