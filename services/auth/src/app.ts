import {
  AUTH_LIMITS,
  authenticatePlugin,
  cachedTokenVerifier,
  createAccountDeletions,
  createStorageServiceApp,
  publishRevocation,
  type StorageServiceDeps,
} from '@journal/shared';
import { Registry } from 'prom-client';
import { createAuthDeletion } from './accounts/deletion.js';
import type { Config } from './config.js';
import { createBundlesRepository } from './encryption/repository.js';
import { createEncryptionService } from './encryption/service.js';
import { createAuthJobs } from './jobs.js';
import { createAuthMetrics } from './metrics.js';
import { createHashGate } from './passwords/gate.js';
import { createPasswordHasher } from './passwords/hasher.js';
import { createRateLimiter } from './ratelimit/limiter.js';
import { authRoutes } from './routes/auth.js';
import { encryptionRoutes } from './routes/encryption.js';
import { jwksRoutes } from './routes/jwks.js';
import { createLiveSessions } from './sessions/live.js';
import { createSessionsRepository } from './sessions/repository.js';
import { createSessionService } from './sessions/service.js';
import { createAccessTokens } from './tokens/access.js';
import { createDeviceTokens } from './tokens/device.js';
import { loadSigningKeys } from './tokens/keys.js';
import { createRefreshTokensRepository } from './tokens/refresh-repository.js';
import { createUsersRepository } from './users/repository.js';
import { createAccountService } from './users/service.js';

export const SERVICE = 'auth';

export type AppDeps = StorageServiceDeps<Config>;

/**
 * Builds the auth service's fastify app; never listens (main.ts does). The order every service
 * follows: config, storage, domain services, then HTTP (shared plugins, authenticate, routes).
 */
export async function buildApp(deps: AppDeps) {
  const { config, logger, db, redis } = deps;

  // Storage: repositories, their indexes made idempotently at start-up.
  const users = createUsersRepository(db);
  const sessionsRepo = createSessionsRepository(db, config.JWT_REFRESH_TTL_SECONDS * 1000);
  const refreshTokens = createRefreshTokensRepository(db);
  const deletions = createAccountDeletions(db);
  const bundles = createBundlesRepository(db);
  const [, sessionsTtl, tokensTtl] = await Promise.all([
    users.ensureIndexes(),
    sessionsRepo.ensureIndexes(),
    refreshTokens.ensureIndexes(),
    deletions.ensureIndexes(),
    bundles.ensureIndexes(),
  ]);

  // Domain: keys, tokens, live sessions, password hashing, the session and account services.
  const keys = await loadSigningKeys(config, logger);
  const accessTokens = createAccessTokens({
    keys,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    ttlSeconds: config.JWT_ACCESS_TTL_SECONDS,
  });
  const live = createLiveSessions(redis, config.JWT_ACCESS_TTL_SECONDS);
  const hasher = createPasswordHasher(config.PASSWORD_SCRYPT_LOG_N);
  await hasher.warmUp();
  // Domain metrics live in the registry the shared metrics plugin serves (created below).
  const metricsRegistry = new Registry();
  const metrics = createAuthMetrics(metricsRegistry);
  const sessions = createSessionService({
    users,
    sessions: sessionsRepo,
    refreshTokens,
    live,
    accessTokens,
    refreshTtlSeconds: config.JWT_REFRESH_TTL_SECONDS,
    logger,
    onReuse: () => metrics.refreshTokenReuse.inc(),
    publishRevocation: (message) => publishRevocation(redis, config.REDIS_KEY_PREFIX, message),
  });
  // Account deletion: records every service sweeps (docs/account-deletion.md), auth's part too.
  const deletion = createAuthDeletion({
    db,
    redis,
    keyPrefix: config.REDIS_KEY_PREFIX,
    users,
    sessions: sessionsRepo,
    refreshTokens,
    bundles,
    live,
    logger,
    registry: metricsRegistry,
    requested: metrics.deletionsRequested,
    settleSeconds: config.ACCOUNT_DELETION_SETTLE_SECONDS,
  });
  const accounts = createAccountService({
    users,
    hasher,
    gate: createHashGate({
      concurrency: config.AUTH_HASH_CONCURRENCY,
      queueWaitMs: config.AUTH_HASH_QUEUE_WAIT_MS,
    }),
    sessions,
    deviceTokens: createDeviceTokens({
      keys,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      ttlSeconds: config.AUTH_DEVICE_TOKEN_TTL_SECONDS,
    }),
    limiter: createRateLimiter(redis),
    deletions,
    onDeletionRequested: (userId) => deletion.requested(userId),
    limits: {
      loginPerUsername: {
        name: 'login-username',
        max: config.AUTH_LOGIN_MAX_FAILURES_PER_USERNAME,
        windowSeconds: config.AUTH_LOGIN_FAILURE_WINDOW_SECONDS,
      },
      loginPerIp: {
        name: 'login-ip',
        max: config.AUTH_LOGIN_MAX_FAILURES_PER_IP,
        windowSeconds: config.AUTH_LOGIN_FAILURE_WINDOW_SECONDS,
      },
      loginPerDeviceToken: {
        name: 'login-device',
        max: config.AUTH_LOGIN_MAX_FAILURES_PER_DEVICE_TOKEN,
        windowSeconds: config.AUTH_LOGIN_FAILURE_WINDOW_SECONDS,
      },
      passwordCheckPerSession: {
        name: 'password-session',
        max: config.AUTH_PASSWORD_CHECK_MAX_FAILURES_PER_SESSION,
        windowSeconds: config.AUTH_LOGIN_FAILURE_WINDOW_SECONDS,
      },
      registerPerIp: {
        name: 'register-ip',
        max: config.AUTH_REGISTER_MAX_PER_IP,
        windowSeconds: config.AUTH_REGISTER_WINDOW_SECONDS,
      },
    },
  });
  // Jobs: no TTL indexes on this server (FerretDB 1.x) means purging expired documents ourselves.
  const jobs = createAuthJobs({
    config,
    logger,
    sessions: sessionsRepo,
    refreshTokens,
    deletion: deletion.sweeper,
    purgeExpired: !sessionsTtl || !tokensTtl,
  });
  jobs.start();

  // HTTP: shared plugins (request ids, problems, metrics, health), authentication, routes.
  const app = await createStorageServiceApp(SERVICE, deps, {
    bodyLimit: AUTH_LIMITS.maxBodyBytes,
    metricsRegistry,
  });
  app.addHook('onClose', async () => {
    jobs.stop();
  });
  await app.register(authenticatePlugin, { verify: cachedTokenVerifier(accessTokens.verify) });
  await app.register(jwksRoutes, { keys });
  await app.register(authRoutes, { accounts, sessions, live, metrics });
  await app.register(encryptionRoutes, {
    encryption: createEncryptionService({ repository: bundles, logger }),
    live,
  });
  // Handles for tests: the jobs (the purge runs only where the server has no TTL indexes) and
  // the account-deletion sweeper.
  const handles = { jobs, deletion };
  app.decorate('auth', handles);
  return app as typeof app & { auth: typeof handles };
}
