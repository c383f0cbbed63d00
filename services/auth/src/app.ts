import {
  AUTH_LIMITS,
  authenticatePlugin,
  cachedTokenVerifier,
  createServiceApp,
  type StorageServiceDeps,
  storageChecks,
} from '@journal/shared';
import type { Config } from './config.js';
import { createPasswordHasher } from './passwords/hasher.js';
import { createRateLimiter } from './ratelimit/limiter.js';
import { authRoutes } from './routes/auth.js';
import { jwksRoutes } from './routes/jwks.js';
import { createLiveSessions } from './sessions/live.js';
import { createSessionsRepository } from './sessions/repository.js';
import { createSessionService } from './sessions/service.js';
import { createAccessTokens } from './tokens/access.js';
import { loadSigningKeys } from './tokens/keys.js';
import { createRefreshTokensRepository } from './tokens/refresh-repository.js';
import { createUsersRepository } from './users/repository.js';
import { createAccountService } from './users/service.js';

export const SERVICE = 'auth';

const PURGE_INTERVAL_MS = 3_600_000;

export type AppDeps = StorageServiceDeps<Config>;

/** Builds the auth service's fastify app; never listens (main.ts does). */
export async function buildApp(deps: AppDeps) {
  const { config, logger, db, redis } = deps;

  // Storage and domain: repositories (indexes made idempotently at start-up), keys, services.
  const users = createUsersRepository(db);
  const sessionsRepo = createSessionsRepository(db, config.JWT_REFRESH_TTL_SECONDS * 1000);
  const refreshTokens = createRefreshTokensRepository(db);
  const [, sessionsTtl, tokensTtl] = await Promise.all([
    users.ensureIndexes(),
    sessionsRepo.ensureIndexes(),
    refreshTokens.ensureIndexes(),
  ]);
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
  const sessions = createSessionService({
    users,
    sessions: sessionsRepo,
    refreshTokens,
    live,
    accessTokens,
    refreshTtlSeconds: config.JWT_REFRESH_TTL_SECONDS,
    logger,
  });
  const accounts = createAccountService({
    users,
    hasher,
    sessions,
    limiter: createRateLimiter(redis),
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
      registerPerIp: {
        name: 'register-ip',
        max: config.AUTH_REGISTER_MAX_PER_IP,
        windowSeconds: config.AUTH_REGISTER_WINDOW_SECONDS,
      },
    },
  });

  // HTTP: shared plugins (request ids, problems, metrics, health), authentication, routes.
  const app = await createServiceApp({
    service: SERVICE,
    version: deps.version ?? '0.0.0',
    logger,
    trustProxy: config.TRUST_PROXY,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    bodyLimit: AUTH_LIMITS.maxBodyBytes,
    checks: storageChecks(db, redis),
  });
  if (!sessionsTtl || !tokensTtl) {
    // No TTL indexes on this server (FerretDB 1.x): purge expired documents ourselves.
    logger.info('server has no TTL indexes: purging expired sessions and tokens hourly');
    const purge = () =>
      Promise.all([sessionsRepo.purgeExpired(), refreshTokens.purgeExpired()]).catch((err) =>
        logger.warn({ err }, 'purging expired sessions failed'),
      );
    const timer = setInterval(purge, PURGE_INTERVAL_MS).unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
  await app.register(authenticatePlugin, { verify: cachedTokenVerifier(accessTokens.verify) });
  await jwksRoutes(app, keys);
  await authRoutes(app, { accounts, sessions, users, live });
  return app;
}
