import {
  createAccountDeletions,
  createStorageServiceApp,
  registerServiceAuthentication,
  type StorageServiceDeps,
} from '@journal/shared';
import { Registry } from 'prom-client';
import { createAttachmentsDeletion } from './accounts/deletion.js';
import { createOrphanSweeper, createPendingRepository } from './attachments/pending.js';
import { createAttachmentsQuota } from './attachments/quota.js';
import { createAttachmentsRepository } from './attachments/repository.js';
import { createAttachmentsService } from './attachments/service.js';
import type { Config } from './config.js';
import { createAttachmentsEncryption } from './encryption/service.js';
import { createAttachmentsJobs } from './jobs.js';
import { createAttachmentsMetrics } from './metrics.js';
import { createQiniu } from './qiniu/qiniu.js';
import { createQiniuService } from './qiniu/service.js';
import { createQiniuUploadsRepository } from './qiniu/uploads-repository.js';
import { attachmentRoutes } from './routes/attachments.js';
import { encryptionRoutes } from './routes/encryption.js';
import { qiniuRoutes } from './routes/qiniu.js';
import { usageRoutes } from './routes/usage.js';
import { createContentStore } from './storage/content-store.js';

export const SERVICE = 'attachments';

export type AppDeps = StorageServiceDeps<Config>;

/**
 * Builds the attachments service's fastify app; never listens (main.ts does). The order every
 * service follows: config, storage, domain services, then HTTP (shared plugins, authenticate,
 * routes).
 */
export async function buildApp(deps: AppDeps) {
  const { config, logger, db } = deps;

  // Storage: content and repositories, their indexes created before the first request.
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

  // Domain: attachments, Qiniu, and the sweeper that settles uploads and deletes whose process
  // died midway (see attachments/pending.ts).
  const metricsRegistry = new Registry();
  const metrics = createAttachmentsMetrics(metricsRegistry);
  const encryption = createAttachmentsEncryption(db);
  const quota = createAttachmentsQuota({
    db,
    redis: deps.redis,
    limits: {
      attachments: config.QUOTA_ATTACHMENTS,
      attachmentBytes: config.QUOTA_ATTACHMENT_BYTES,
    },
    logger,
  });
  const service = createAttachmentsService({
    repository,
    pending,
    store,
    metrics,
    logger,
    maxBytes: config.ATTACHMENTS_MAX_BYTES,
    quota,
    isDeleted: (owner) => deletions.isDeleted(owner),
    encryption,
  });
  const qiniuClient = createQiniu(config);
  const qiniu = createQiniuService({
    qiniu: qiniuClient,
    uploads,
    metrics,
    callbackUrl: config.QINIU_CALLBACK_URL,
    quota,
    maxBytes: config.ATTACHMENTS_MAX_BYTES,
    isDeleted: (owner) => deletions.isDeleted(owner),
    encryption,
    logger,
  });
  const sweeper = createOrphanSweeper({
    pending,
    repository,
    store,
    metrics,
    logger,
    graceSeconds: config.ATTACHMENTS_ORPHAN_GRACE_SECONDS,
  });
  // Account deletions recorded by auth: this service's part (docs/account-deletion.md).
  const deletion = createAttachmentsDeletion({
    db,
    redis: deps.redis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    repository,
    pending,
    uploads,
    store,
    qiniu: qiniuClient,
    logger,
    registry: metricsRegistry,
    settleSeconds: config.ACCOUNT_DELETION_SETTLE_SECONDS,
  });
  const jobs = createAttachmentsJobs({
    config,
    logger,
    orphans: sweeper,
    deletion: deletion.sweeper,
  });
  jobs.start();

  // HTTP: shared plugins, authentication (every call but Qiniu's callback), routes.
  const app = await createStorageServiceApp(SERVICE, deps, { metricsRegistry });
  app.addHook('onClose', async () => {
    jobs.stop();
  });
  // The shared verifier plus the revocation set (ended sessions refused, no Redis per request).
  await registerServiceAuthentication(app, deps);
  await app.register(attachmentRoutes, { service, maxBytes: config.ATTACHMENTS_MAX_BYTES });
  await app.register(qiniuRoutes, { qiniu });
  await app.register(usageRoutes, { quota });
  await app.register(encryptionRoutes, { encryption });

  // Handles for tests.
  const handles = { sweeper, pending, deletion, quota };
  app.decorate('attachments', handles);
  return app as typeof app & { attachments: typeof handles };
}
