import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

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
 * Prometheus metrics: default process metrics, `http_request_duration_seconds` labelled by
 * method, route pattern (never the raw path) and status code, and `GET /metrics`.
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

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    });
  },
  { name: 'journal-metrics', fastify: '5.x' },
);
