import {
  authenticatePlugin,
  createAccountDeletions,
  createServiceApp,
  type StorageServiceDeps,
  storageChecks,
  tokenVerifierFromConfig,
} from '@journal/shared';
import { createAttachmentsDeletion } from './accounts/deletion.js';
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
  const deletions = createAccountDeletions(db);
  await Promise.all([
    deletions.ensureIndexes(),
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
    isDeleted: (owner) => deletions.isDeleted(owner),
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
  // Account deletions recorded by auth: this service's part (docs/account-deletion.md).
  const qiniu = createQiniu(config);
  const deletion = createAttachmentsDeletion({
    db,
    redis: deps.redis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    repository,
    pending,
    uploads,
    store,
    qiniu,
    logger: deps.logger,
    registry: app.metrics,
    settleSeconds: config.ACCOUNT_DELETION_SETTLE_SECONDS,
  });
  deletion.start(config.ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS);
  app.addHook('onClose', async () => deletion.stop());

  await attachmentRoutes(app, { service, store, metrics, maxBytes: config.ATTACHMENTS_MAX_BYTES });
  await qiniuRoutes(app, {
    qiniu,
    uploads,
    metrics,
    callbackUrl: config.QINIU_CALLBACK_URL,
    isDeleted: (owner) => deletions.isDeleted(owner),
  });
  return Object.assign(app, { attachments: { sweeper, pending, deletion } });
}
