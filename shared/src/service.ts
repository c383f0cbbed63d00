import { readFileSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import type { Db } from 'mongodb';
import type { z } from 'zod';
import { createServiceApp, type ServiceAppOptions } from './app.js';
import { ConfigError, loadConfig, trustProxyOption } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createMetricsServer, metricsPortOf } from './metrics.js';
import { connectMongo } from './mongo.js';
import { loggableError, registerProcessMetrics, strayErrors } from './outside-faults.js';
import { connectRedis, type Redis, type RedisConfig, redisTargetFromConfig } from './redis.js';
import { storageChecks } from './storage.js';
import { stopTracing } from './tracing.js';

/** The `version` of the package.json one folder above `moduleUrl` (src/ or dist/). */
export function packageVersion(moduleUrl: string): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', moduleUrl), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export interface RunningService {
  app: FastifyInstance;
  /** Closes clients the service opened (MongoDB, Redis, timers); called after the app closed. */
  close?: () => Promise<void>;
}

export interface RunServiceOptions<S extends z.ZodType> {
  service: string;
  schema: S;
  /** Connects what the service needs and builds its app; never listens. */
  start: (config: z.infer<S>, logger: Logger) => Promise<RunningService>;
}

/**
 * A rejection nobody handled or an exception nobody caught (typically from inside a third-party
 * SDK: the Qiniu SDK's region lookup leaves one when its host is unreachable) is logged and
 * counted, never fatal: ending the process would turn one dependency's outage into a crash loop
 * of the whole service. The failing operation itself has already answered or will be retried.
 */
export function containStrayErrors(logger: Logger): () => void {
  const onRejection = (reason: unknown) => {
    strayErrors.inc({ kind: 'unhandledRejection' });
    logger.error({ err: loggableError(reason) }, 'unhandled rejection (contained)');
  };
  const onException = (err: unknown) => {
    strayErrors.inc({ kind: 'uncaughtException' });
    logger.error({ err: loggableError(err) }, 'uncaught exception (contained)');
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}

/**
 * The life of a service process: load config (one clear line and exit 1 when it is wrong),
 * start, listen on HOST:PORT (the API) and HOST:METRICS_PORT (`GET /metrics` only), and on
 * SIGTERM/SIGINT stop accepting, drain in-flight requests (bounded by SHUTDOWN_TIMEOUT_MS),
 * close clients and exit 0. A stray rejection or exception is contained (`containStrayErrors`);
 * only a failure to start exits 1.
 */
export async function runService<S extends z.ZodType>(options: RunServiceOptions<S>) {
  let config: z.infer<S> & {
    HOST: string;
    PORT: number;
    METRICS_PORT?: number;
    LOG_LEVEL: string;
    SHUTDOWN_TIMEOUT_MS: number;
  };
  let metricsPort: number;
  try {
    config = loadConfig(options.schema) as typeof config;
    metricsPort = metricsPortOf(config);
    if (metricsPort > 65535)
      throw new ConfigError([
        { variable: 'METRICS_PORT', message: 'is required when PORT + 1000 is above 65535' },
      ]);
    if (metricsPort !== 0 && metricsPort === config.PORT)
      throw new ConfigError([{ variable: 'METRICS_PORT', message: 'must differ from PORT' }]);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${options.service}: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(options.service, config.LOG_LEVEL);
  let running: RunningService | undefined;
  let metrics: ReturnType<typeof createMetricsServer> | undefined;

  containStrayErrors(logger);
  // Signals only: stray errors are contained above, not a reason to stop.
  closeWithGrace(
    {
      delay: config.SHUTDOWN_TIMEOUT_MS,
      logger,
      skip: ['uncaughtException', 'unhandledRejection'],
    },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, 'shutting down after an error');
      else logger.info({ signal }, 'shutting down');
      if (running) {
        await running.app.close();
        await metrics?.close();
        await running.close?.();
      }
      await stopTracing().catch((err: unknown) =>
        logger.warn({ err: loggableError(err) }, 'flushing traces failed'),
      );
      logger.info('stopped');
    },
  );

  try {
    running = await options.start(config, logger);
    registerProcessMetrics(running.app.metrics);
    // The metrics listener first: once the public port answers, /metrics does too.
    metrics = createMetricsServer({ registry: running.app.metrics, logger });
    const metricsAddress = await metrics.listen({ host: config.HOST, port: metricsPort });
    const address = await running.app.listen({ host: config.HOST, port: config.PORT });
    logger.info({ address, metricsAddress }, `${options.service} listening`);
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    await running?.close?.().catch(() => {});
    process.exit(1);
  }
}

/**
 * What a service that stores data gets from `runStorageService`, and what its `buildApp` takes
 * (a service needing more extends it, e.g. sync's test-only fault hooks).
 */
export interface StorageServiceDeps<C> {
  config: C;
  logger: Logger;
  db: Db;
  /** A client whose `keyPrefix` is REDIS_KEY_PREFIX. */
  redis: Redis;
  /** The package's version (`packageVersion`); 0.0.0 when absent (tests). */
  version?: string;
}

interface StorageConfig extends RedisConfig {
  MONGODB_URL: string;
  MONGODB_DB_NAME: string;
  REDIS_KEY_PREFIX: string;
}

/**
 * `runService` for the services that keep data (auth, sync, attachments): connects MongoDB
 * (with start-up retry) and Redis (with the key prefix), builds the app, and closes both after
 * the app on shutdown. `moduleUrl` is the service's `import.meta.url`, for its version.
 */
export function runStorageService<S extends z.ZodType<StorageConfig>>(options: {
  service: string;
  schema: S;
  moduleUrl: string;
  buildApp: (deps: StorageServiceDeps<z.infer<S>>) => Promise<FastifyInstance>;
}) {
  return runService({
    service: options.service,
    schema: options.schema,
    async start(config, logger) {
      const mongo = await connectMongo(config.MONGODB_URL, {
        dbName: config.MONGODB_DB_NAME,
        logger,
      });
      const redis = await connectRedis(redisTargetFromConfig(config), {
        logger,
        options: { keyPrefix: config.REDIS_KEY_PREFIX },
      }).catch(async (err: unknown) => {
        await mongo.close();
        throw err;
      });
      const app = await options.buildApp({
        config,
        logger,
        db: mongo.db,
        redis,
        version: packageVersion(options.moduleUrl),
      });
      return {
        app,
        close: async () => {
          await mongo.close();
          redis.disconnect();
        },
      };
    },
  });
}

/**
 * `createServiceApp` as every service that keeps data calls it: its name and version, its
 * logger, TRUST_PROXY and HTTP_IDLE_TIMEOUT_MS from its config, and readiness = MongoDB and Redis
 * answer. `options` adds what one service needs on top (a body limit, a metrics registry).
 */
export function createStorageServiceApp(
  service: string,
  deps: StorageServiceDeps<{
    TRUST_PROXY?: string | undefined;
    TRUST_PROXY_HOPS?: number | undefined;
    HTTP_IDLE_TIMEOUT_MS: number;
  }>,
  options: Partial<Omit<ServiceAppOptions, 'service' | 'version' | 'logger'>> = {},
) {
  return createServiceApp({
    service,
    version: deps.version ?? '0.0.0',
    logger: deps.logger,
    trustProxy: trustProxyOption(deps.config),
    idleTimeoutMs: deps.config.HTTP_IDLE_TIMEOUT_MS,
    checks: storageChecks(deps.db, deps.redis),
    ...options,
  });
}
