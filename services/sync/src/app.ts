import {
  createAccountDeletions,
  createStorageServiceApp,
  registerServiceAuthentication,
  type StorageServiceDeps,
} from '@journal/shared';
import { Registry } from 'prom-client';
import { createSyncDeletion } from './accounts/deletion.js';
import { createHeads } from './changes/head.js';
import { createChangeNotifier } from './changes/notifier.js';
import { createRecentChanges } from './changes/recent.js';
import type { Config } from './config.js';
import { createSyncEncryption } from './encryption/service.js';
import { createEntryHistory } from './entries/history.js';
import { createHoles } from './entries/holes.js';
import { createIdempotency } from './entries/idempotency.js';
import { createEntriesRepository } from './entries/repository.js';
import { createEntriesService, type PushHooks } from './entries/service.js';
import { createSyncJobs } from './jobs.js';
import { createSyncMetrics, createSyncTrafficMetrics } from './metrics.js';
import { createPurger } from './purge/purger.js';
import { createEntriesQuota } from './quota/entries-quota.js';
import { encryptionRoutes } from './routes/encryption.js';
import { syncRoutes } from './routes/sync.js';
import { usageRoutes } from './routes/usage.js';
import { startGeneration } from './store/generation.js';

export const SERVICE = 'sync';

export interface AppDeps extends StorageServiceDeps<Config> {
  /** Fault injection for tests only. */
  pushHooks?: PushHooks;
  /** How often the store generation is re-read (ms; tests only; 0: never, call refresh()). */
  generationRefreshMs?: number;
}

/**
 * Builds the sync service's fastify app; never listens (main.ts does). The order every service
 * follows: config, storage, domain services, then HTTP (shared plugins, authenticate, routes).
 */
export async function buildApp(deps: AppDeps) {
  const { config, logger, db, redis } = deps;

  // Storage: indexes before the first request.
  const repository = createEntriesRepository(db);
  const deletions = createAccountDeletions(db);
  await Promise.all([repository.ensureIndexes(), deletions.ensureIndexes()]);
  // The store's generation (created if absent), re-read periodically: a restore renews it.
  const generation = await startGeneration({
    db,
    logger,
    ...(deps.generationRefreshMs !== undefined ? { refreshMs: deps.generationRefreshMs } : {}),
  });

  // Domain: wake-ups, the rules, idempotency, the purge job.
  const metricsRegistry = new Registry();
  const metrics = createSyncMetrics(metricsRegistry);
  const notifier = createChangeNotifier({
    redis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    logger,
    limits: {
      perUser: config.SYNC_LONG_POLL_MAX_PER_USER,
      perProcess: config.SYNC_LONG_POLL_MAX_PER_PROCESS,
    },
    answeredEarly: metrics.longPollsAnsweredEarly,
  });
  // Guesses stay far inside the tombstone retention: only purged slots are free below the max.
  const heads = createHeads({
    redis,
    ttlMs: config.SYNC_HEAD_TTL_SECONDS * 1000,
    guessWindowMs: (config.SYNC_TOMBSTONE_RETENTION_SECONDS * 1000) / 4,
    logger,
    generation: generation.current,
  });
  const recent = createRecentChanges({
    redis,
    maxEntries: config.SYNC_HEAD_TTL_SECONDS > 0 ? config.SYNC_RECENT_CHANGES : 0,
    maxAgeMs: Math.min(
      config.SYNC_RECENT_TTL_SECONDS * 1000,
      (config.SYNC_TOMBSTONE_RETENTION_SECONDS * 1000) / 4,
    ),
    maxEntryBytes: config.SYNC_RECENT_MAX_ENTRY_BYTES,
    logger,
  });
  const quota = createEntriesQuota({
    db,
    redis,
    limits: { entries: config.QUOTA_ENTRIES, entryBytes: config.QUOTA_ENTRY_BYTES },
    logger,
  });
  const service = createEntriesService({
    repository,
    holes: createHoles(db),
    notifier,
    heads,
    recent,
    metrics,
    logger,
    maxConcurrentPageReads: config.SYNC_MAX_CONCURRENT_PAGE_READS,
    quota,
    ...(deps.pushHooks ? { hooks: deps.pushHooks } : {}),
  });
  const idempotency = createIdempotency(redis, {
    ttlSeconds: config.SYNC_IDEMPOTENCY_TTL_SECONDS,
    maxBytes: config.SYNC_IDEMPOTENCY_MAX_BYTES,
  });
  const purger = createPurger({
    repository,
    retentionSeconds: config.SYNC_TOMBSTONE_RETENTION_SECONDS,
    logger,
  });
  // Account deletions recorded by auth: this service's part (docs/account-deletion.md).
  const deletion = createSyncDeletion({
    db,
    redis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    repository,
    logger,
    registry: metricsRegistry,
    settleSeconds: config.ACCOUNT_DELETION_SETTLE_SECONDS,
  });
  const jobs = createSyncJobs({ config, logger, purger, deletion: deletion.sweeper });
  jobs.start();

  // HTTP: shared plugins, authentication (every call carries a token verified here), routes.
  const app = await createStorageServiceApp(SERVICE, deps, { metricsRegistry });
  // Shutdown: waiting long-polls answer with what is there before the server drains.
  app.addHook('preClose', async () => notifier.wakeAll());
  app.addHook('onClose', async () => {
    jobs.stop();
    await generation.stop();
    await notifier.close();
  });
  // The shared verifier plus the revocation set (ended sessions refused, no Redis per request).
  await registerServiceAuthentication(app, deps);
  const encryption = createSyncEncryption({ db, redis, repository, logger });
  await app.register(syncRoutes, {
    service,
    history: createEntryHistory({
      db,
      retentionSeconds: config.SYNC_TOMBSTONE_RETENTION_SECONDS,
    }),
    idempotency,
    traffic: createSyncTrafficMetrics(metricsRegistry, () => notifier.waiting()),
    encryption,
  });
  await app.register(encryptionRoutes, { encryption });
  await app.register(usageRoutes, { quota });

  // Handles for tests.
  const handles = { notifier, purger, repository, heads, recent, deletion, quota, generation };
  app.decorate('sync', handles);
  return app as typeof app & { sync: typeof handles };
}

export type SyncApp = Awaited<ReturnType<typeof buildApp>>;
