import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyPluginOptions,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import fp from 'fastify-plugin';
import {
  type FastifyPluginAsyncZod,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { DEFAULT_BODY_LIMIT_BYTES } from './api/operation.js';
import { AUTHENTICATE_PLUGIN } from './authenticate.js';
import { ProblemError } from './errors.js';
import { type HealthOptions, healthPlugin } from './health.js';
import { httpPlugin, requestIdFrom, sendProblem } from './http.js';
import type { Logger } from './logger.js';
import { metricsPlugin } from './metrics.js';

export interface ServiceAppOptions {
  service: string;
  version: string;
  logger: Logger;
  /** Readiness checks for GET /ready. */
  checks: HealthOptions['checks'];
  /** Largest body a content-type parser buffers (streams are limited by the route). */
  bodyLimit?: number;
  metricsRegistry?: Registry;
  /**
   * Closes a socket that sends or receives nothing for this long (slow-loris bodies). Above the
   * 30 s long-poll; a large upload that keeps sending is never cut.
   */
  idleTimeoutMs?: number;
  /**
   * Who may set X-Forwarded-For: proxy addresses, a hop count, or nobody (`trustProxyOption`
   * of TRUST_PROXY / TRUST_PROXY_HOPS).
   */
  trustProxy?: string[] | number | false;
  /** Fastify options the service needs on top of the shared ones. */
  fastify?: Partial<FastifyServerOptions>;
}

/**
 * A fastify instance with what every service shares, registered in this order: request ids
 * and problem documents, metrics, health/readiness, the zod type provider. The caller adds
 * its own plugins and routes, and never listens here (see `runService`).
 */
export async function createServiceApp(options: ServiceAppOptions) {
  const app = Fastify({
    loggerInstance: options.logger,
    // httpPlugin writes one line per request itself, with route, status, duration and user.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    requestIdHeader: false,
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']) ?? randomUUID(),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES,
    // Idle keep-alive sockets are closed on shutdown so draining does not wait on them.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    connectionTimeout: options.idleTimeoutMs ?? 65_000,
    // Kept-alive sockets must end (and say so in Keep-Alive: timeout=…) before the idle timeout
    // destroys them, or a client can reuse a socket the server is closing ("other side closed").
    keepAliveTimeout: Math.max(1_000, Math.min(60_000, (options.idleTimeoutMs ?? 65_000) - 5_000)),
    routerOptions: { maxParamLength: 512 },
    // A hop count is what fastify itself makes of a number (its types omit that form):
    // proxy-addr trusts the socket peer and the next n-1 entries from the right.
    trustProxy:
      typeof options.trustProxy === 'number'
        ? hopTrust(options.trustProxy)
        : (options.trustProxy ?? false),
    // Errors the router raises before any route runs (an undecodable URL, a path parameter
    // over maxParamLength) answer 400 problem documents too, not fastify's own JSON or 414.
    frameworkErrors: (error, _request, reply) =>
      sendProblem(
        reply,
        new ProblemError(
          'validation_failed',
          error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'a path parameter is too long'
            : 'the URL is not valid',
        ),
      ),
    ...options.fastify,
  }).withTypeProvider<ZodTypeProvider>();

  // Once shutdown begins, every response closes its connection: a request that was in flight
  // at SIGTERM must not leave a kept-alive socket holding the server open after it is answered.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(httpPlugin);
  await app.register(metricsPlugin, {
    service: options.service,
    ...(options.metricsRegistry ? { registry: options.metricsRegistry } : {}),
  });
  await app.register(healthPlugin, {
    service: options.service,
    version: options.version,
    checks: options.checks,
  });
  return app;
}

/** proxy-addr's trust function for `hops` proxies in front: the i-th hop from the socket. */
export function hopTrust(hops: number) {
  return (_address: string, hop: number) => hop < hops;
}

export type { FastifyPluginAsyncZod };

/**
 * A service's routes as a fastify plugin typed with the zod type provider (so every scope it
 * opens keeps the schemas' types), registered under `name` and only after the authenticate
 * decorator it relies on (`app.authenticate`). Encapsulated: content-type parsers and hooks it
 * sets stay inside it.
 */
export function routesPlugin<O extends FastifyPluginOptions>(
  name: string,
  plugin: FastifyPluginAsyncZod<O>,
): FastifyPluginAsyncZod<O> {
  return fp(plugin, {
    name,
    fastify: '5.x',
    dependencies: [AUTHENTICATE_PLUGIN],
    encapsulate: true,
  });
}

/**
 * Route-level `preValidation` of a call whose body is optional JSON (`{}` or none): a request
 * without a body is validated as `{}` (e.g. the encryption finish calls).
 */
export async function noBodyAsEmptyObject(request: { body: unknown }): Promise<void> {
  if (request.body === null || request.body === undefined) request.body = {};
}
