import {
  authenticatePlugin,
  createServiceApp,
  type StorageServiceDeps,
  storageChecks,
  tokenVerifierFromConfig,
} from '@journal/shared';
import { createHeads } from './changes/head.js';
import { createChangeNotifier } from './changes/notifier.js';
import type { Config } from './config.js';
import { createIdempotency } from './entries/idempotency.js';
import { createSyncMetrics } from './entries/metrics.js';
import { createEntriesRepository } from './entries/repository.js';
import { createEntriesService, type PushHooks } from './entries/service.js';
import { createPurger } from './purge/purger.js';
import { syncRoutes } from './routes/sync.js';

export const SERVICE = 'sync';

export interface AppDeps extends StorageServiceDeps<Config> {
  /** Fault injection for tests only. */
  pushHooks?: PushHooks;
}

/** Builds the sync service's fastify app; never listens (main.ts does). */
export async function buildApp(deps: AppDeps) {
  const { config, logger, db, redis } = deps;
  const app = await createServiceApp({
    service: SERVICE,
    version: deps.version ?? '0.0.0',
    logger,
    trustProxy: config.TRUST_PROXY,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    checks: storageChecks(db, redis),
  });

  // Every call carries a bearer token this service verifies itself.
  await app.register(authenticatePlugin, {
    verify: tokenVerifierFromConfig(config),
  });

  // Storage (indexes before the first request), wake-ups, the rules, the purge job.
  const repository = createEntriesRepository(db);
  await repository.ensureIndexes();
  const notifier = createChangeNotifier({ redis, keyPrefix: config.REDIS_KEY_PREFIX, logger });
  const metrics = createSyncMetrics(app.metrics);
  // Guesses stay far inside the tombstone retention: only purged slots are free below the max.
  const heads = createHeads({
    redis,
    ttlMs: config.SYNC_HEAD_TTL_SECONDS * 1000,
    guessWindowMs: (config.SYNC_TOMBSTONE_RETENTION_SECONDS * 1000) / 4,
    logger,
  });
  const service = createEntriesService({
    repository,
    notifier,
    heads,
    metrics,
    logger,
    ...(deps.pushHooks ? { hooks: deps.pushHooks } : {}),
  });
  const purger = createPurger({
    repository,
    retentionSeconds: config.SYNC_TOMBSTONE_RETENTION_SECONDS,
    logger,
  });
  purger.start(config.SYNC_PURGE_INTERVAL_SECONDS);

  // Shutdown: waiting long-polls answer with what is there before the server drains.
  app.addHook('preClose', async () => notifier.wakeAll());
  app.addHook('onClose', async () => {
    purger.stop();
    await notifier.close();
  });

  await syncRoutes(app, {
    service,
    idempotency: createIdempotency(redis, config.SYNC_IDEMPOTENCY_TTL_SECONDS),
  });
  return Object.assign(app, { sync: { notifier, purger, repository, heads } });
}

export type SyncApp = Awaited<ReturnType<typeof buildApp>>;
