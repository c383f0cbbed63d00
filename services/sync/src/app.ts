import {
  createServiceApp,
  type Logger,
  pingMongo,
  pingRedis,
  type Redis,
  registerServiceAuthentication,
  trustProxyOption,
} from '@journal/shared';
import type { Db } from 'mongodb';
import { createChangeNotifier } from './changes/notifier.js';
import type { Config } from './config.js';
import { createIdempotency } from './entries/idempotency.js';
import { createSyncMetrics } from './entries/metrics.js';
import { createEntriesRepository } from './entries/repository.js';
import { createEntriesService, type PushHooks } from './entries/service.js';
import { createPurger } from './purge/purger.js';
import { syncRoutes } from './routes/sync.js';

export const SERVICE = 'sync';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Db;
  /** A client whose `keyPrefix` is REDIS_KEY_PREFIX. */
  redis: Redis;
  version?: string;
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
    trustProxy: trustProxyOption(config),
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    checks: {
      mongodb: () => pingMongo(db),
      redis: () => pingRedis(redis),
    },
  });

  // Every call carries a bearer token this service verifies itself.
  await registerServiceAuthentication(app, { config, db, redis: redis, logger: logger });

  // Storage (indexes before the first request), wake-ups, the rules, the purge job.
  const repository = createEntriesRepository(db);
  await repository.ensureIndexes();
  const notifier = createChangeNotifier({ redis, keyPrefix: config.REDIS_KEY_PREFIX, logger });
  const metrics = createSyncMetrics(app.metrics);
  const service = createEntriesService({
    repository,
    notifier,
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
  return Object.assign(app, { sync: { notifier, purger, repository } });
}

export type SyncApp = Awaited<ReturnType<typeof buildApp>>;
