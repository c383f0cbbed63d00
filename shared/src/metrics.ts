import Fastify, { type FastifyInstance, LogController } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { problemDocument } from './errors.js';
import type { Logger } from './logger.js';

export interface MetricsOptions {
  service: string;
  /** Pass a registry to share one with the service's own domain metrics. */
  registry?: Registry;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
  interface FastifyRequest {
    metricsStart?: bigint;
  }
}

/**
 * Prometheus metrics: default process metrics and `http_request_duration_seconds` labelled by
 * method, route pattern (never the raw path) and status code, in `app.metrics`. `GET /metrics`
 * is not a route of this app: it is served on a listener of its own (`createMetricsServer`,
 * started by `runService` on METRICS_PORT), so the public port never exposes it.
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance, opts: MetricsOptions) => {
    const registry = opts.registry ?? new Registry();
    registry.setDefaultLabels({ service: opts.service });
    collectDefaultMetrics({ register: registry });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    app.decorate('metrics', registry);

    app.addHook('onRequest', async (request) => {
      request.metricsStart = process.hrtime.bigint();
    });
    app.addHook('onResponse', async (request, reply) => {
      if (request.metricsStart === undefined) return;
      const seconds = Number(process.hrtime.bigint() - request.metricsStart) / 1e9;
      duration.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status_code: String(reply.statusCode),
        },
        seconds,
      );
    });
  },
  { name: 'journal-metrics', fastify: '5.x' },
);

/**
 * The metrics listener: `GET /metrics` (Prometheus text format) and a 404 problem document for
 * anything else. Requests are not logged (a scrape every few seconds is noise), errors are.
 */
export function createMetricsServer(options: { registry: Registry; logger?: Logger }) {
  const app = Fastify({
    ...(options.logger
      ? { loggerInstance: options.logger.child({ listener: 'metrics' }) }
      : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    // Close kept-alive scraper connections at shutdown instead of waiting for them.
    forceCloseConnections: true,
    bodyLimit: 1024,
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.registry.contentType);
    reply.header('cache-control', 'no-store');
    return options.registry.metrics();
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type('application/problem+json')
      .send(
        problemDocument(
          'not_found',
          `no route for ${request.method} ${request.url.split('?')[0]}`.slice(0, 300),
        ),
      ),
  );
  app.setErrorHandler((error, request, reply) => {
    request.log.error({ err: error }, 'metrics request failed');
    return reply
      .code(500)
      .type('application/problem+json')
      .send(problemDocument('internal', 'could not collect the metrics'));
  });
  return app;
}

/**
 * The port of the metrics listener: METRICS_PORT, else PORT + 1000 (so `make dev`'s gateway on
 * 8000 has its metrics on 9000), else 0 (any free port) when PORT is 0.
 */
export function metricsPortOf(config: { PORT: number; METRICS_PORT?: number | undefined }): number {
  if (config.METRICS_PORT !== undefined) return config.METRICS_PORT;
  return config.PORT === 0 ? 0 : config.PORT + 1000;
}
