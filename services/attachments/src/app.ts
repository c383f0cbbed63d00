import {
  authenticatePlugin,
  createServiceApp,
  type StorageServiceDeps,
  storageChecks,
  tokenVerifierFromConfig,
} from '@journal/shared';
import { createAttachmentsMetrics } from './attachments/metrics.js';
import { createOrphanSweeper, createPendingRepository } from './attachments/pending.js';
import { createAttachmentsRepository } from './attachments/repository.js';
import { createAttachmentsService } from './attachments/service.js';
import type { Config } from './config.js';
import { createQiniu } from './qiniu/qiniu.js';
import { createQiniuUploadsRepository } from './qiniu/uploads-repository.js';
import { attachmentRoutes } from './routes/attachments.js';
import { qiniuRoutes } from './routes/qiniu.js';
import { createContentStore } from './storage/content-store.js';

export const SERVICE = 'attachments';

export type AppDeps = StorageServiceDeps<Config>;

/** Builds the attachments service's fastify app; never listens (main.ts does). */
export async function buildApp(deps: AppDeps) {
  const { config, db } = deps;
  const app = await createServiceApp({
    service: SERVICE,
    version: deps.version ?? '0.0.0',
    logger: deps.logger,
    trustProxy: config.TRUST_PROXY,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    checks: storageChecks(db, deps.redis),
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
  const pending = createPendingRepository(db);
  await Promise.all([
    store.ensureIndexes(),
    repository.ensureIndexes(),
    uploads.ensureIndexes(),
    pending.ensureIndexes(),
  ]);
  const service = createAttachmentsService({
    repository,
    pending,
    store,
    metrics,
    logger: deps.logger,
    maxBytes: config.ATTACHMENTS_MAX_BYTES,
  });
  // Settles uploads and deletes whose process died midway (see attachments/pending.ts).
  const sweeper = createOrphanSweeper({
    pending,
    repository,
    store,
    metrics,
    logger: deps.logger,
    graceSeconds: config.ATTACHMENTS_ORPHAN_GRACE_SECONDS,
  });
  sweeper.start(config.ATTACHMENTS_SWEEP_INTERVAL_SECONDS);
  app.addHook('onClose', async () => sweeper.stop());

  await attachmentRoutes(app, { service, store, metrics, maxBytes: config.ATTACHMENTS_MAX_BYTES });
  await qiniuRoutes(app, {
    qiniu: createQiniu(config),
    uploads,
    metrics,
    callbackUrl: config.QINIU_CALLBACK_URL,
  });
  return Object.assign(app, { attachments: { sweeper, pending } });
}
