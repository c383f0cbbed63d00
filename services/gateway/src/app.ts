import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import {
  createServiceApp,
  GATEWAY_RATE_LIMIT_NAMESPACE,
  gatewayRateLimitKey,
  type Logger,
  ProblemError,
  pingRedis,
  type Redis,
  tokenVerifierFromConfig,
  trustProxyOption,
} from '@journal/shared';
import { createGuard } from './auth/guard.js';
import type { Config } from './config.js';
import { createGatewayMetrics } from './metrics.js';
import { buildOpenApiDocument } from './openapi/document.js';
import { createOperationMatcher } from './operations.js';
import { createBodyLimitCheck } from './proxy/body-limits.js';
import { createIdlePulls } from './proxy/idle-pull.js';
import { registerUpstreams } from './proxy/upstreams.js';
import { securityHeaders, securityHeadersHook } from './security-headers.js';
import { registerUsage } from './usage.js';

export const SERVICE = 'gateway';

/**
 * The gateway's Redis client options. Auto-pipelining: commands issued in one turn of the event
 * loop (a request's session lookup and rate-limit counter, and those of concurrent requests) go
 * out in one write and come back in one read.
 */
export function redisOptions(keyPrefix: string) {
  return { keyPrefix, enableAutoPipelining: true };
}

export interface AppDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  version?: string;
}

/**
 * Builds the gateway's fastify app; never listens (main.ts does). The order every service
 * follows: config (its Redis client comes in deps), domain (operation matcher, guard), then
 * HTTP: shared plugins (ids, problems, metrics, health), security headers (helmet's, computed
 * once), CORS, then, for routed paths only, the body-size check, the token and session check,
 * the rate limit and the proxies; OpenAPI last.
 */
export async function buildApp(deps: AppDeps) {
  const { config, redis } = deps;
  const version = deps.version ?? '0.0.0';

  // Domain: one reading of the operation table per request (public or not, route label, body
  // limit), and the token and session check.
  const calls = createOperationMatcher({ configuredMaxBytes: config.ATTACHMENTS_MAX_BYTES });
  const verify = tokenVerifierFromConfig(config);
  const guard = createGuard(verify, redis, (request) => calls.forRequest(request).public);
  const idlePulls = createIdlePulls(redis, (request) => calls.forRequest(request));

  // Shared: request ids and problem documents, metrics, /health and /ready. Readiness is Redis
  // only (sessions and rate limits): never the upstreams' readiness, or one store outage would
  // take every gateway pod out of its Service (an unreachable upstream answers 503 per request).
  const app = await createServiceApp({
    service: SERVICE,
    version,
    logger: deps.logger,
    trustProxy: trustProxyOption(config),
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_MS,
    checks: { redis: () => pingRedis(redis) },
  });

  // Security headers (helmet's defaults; the API is called cross-origin), CORS for browsers.
  app.addHook(
    'onRequest',
    securityHeadersHook(securityHeaders({ crossOriginResourcePolicy: { policy: 'cross-origin' } })),
  );
  if (config.CORS_ORIGINS.trim()) {
    const origins = config.CORS_ORIGINS.split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
      allowedHeaders: [
        'authorization',
        'content-type',
        'idempotency-key',
        'x-content-sha256',
        'x-request-id',
        'range',
        'if-none-match',
        'if-range',
      ],
      exposedHeaders: [
        'x-request-id',
        'etag',
        'content-range',
        'content-length',
        'accept-ranges',
        'retry-after',
        'location',
      ],
      maxAge: 600,
    });
  }

  // Everything routed upstream: token and session check, rate limit, then the proxies.
  await app.register(async (api) => {
    api.addHook('onRequest', createBodyLimitCheck(calls));
    api.addHook('onRequest', async (request) => {
      await guard.start(request);
      if (request.auth) idlePulls.start(request, request.auth.userId);
    });
    api.addHook('preHandler', guard.finish);
    api.addHook('preHandler', idlePulls.answer);
    await api.register(rateLimit, {
      // Route-level onRequest: after guard.start, so its counter and the session lookup go to
      // Redis together; guard.finish then waits for the lookup before anything is proxied.
      hook: 'onRequest',
      redis,
      nameSpace: GATEWAY_RATE_LIMIT_NAMESPACE,
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      max: (request) =>
        request.auth ? config.RATE_LIMIT_AUTHENTICATED_MAX : config.RATE_LIMIT_MAX,
      keyGenerator: (request) =>
        request.auth
          ? gatewayRateLimitKey('user', request.auth.userId)
          : gatewayRateLimitKey('ip', request.ip),
      errorResponseBuilder: (_request, context) =>
        new ProblemError('rate_limited', `too many requests; retry in ${context.after}`, {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        }),
    });
    // The gateway's own call: usage against the quotas, from sync and attachments at once.
    await registerUsage(api, config);
    await registerUpstreams(api, config, createGatewayMetrics(app.metrics, config), calls);
  });

  // The public API document and its rendered reference page (public, not rate-limited).
  const document = buildOpenApiDocument(version);
  app.get('/openapi.json', { schema: { hide: true } }, async () => document);
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });

  return app;
}
