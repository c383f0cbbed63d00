import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Config } from './config.js';

/**
 * Every metric the gateway defines, in the registry the shared metrics plugin serves (the
 * shared HTTP metrics come with it). docs/gateway.md, "Metrics".
 */
export function createGatewayMetrics(registry: Registry, config: Config) {
  new Gauge({
    name: 'gateway_long_poll_connections_limit',
    help: 'UPSTREAM_LONG_POLL_CONNECTIONS: connections to sync for long-polls; pulls beyond it queue',
    registers: [registry],
  }).set(config.UPSTREAM_LONG_POLL_CONNECTIONS);
  return {
    upstreamLatency: new Histogram({
      name: 'gateway_upstream_duration_seconds',
      help: 'Time from receiving a proxied request to its response, by upstream, route and status',
      labelNames: ['upstream', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    /** Long-polls held against UPSTREAM_LONG_POLL_CONNECTIONS (the "near the limit" alert). */
    longPollsInFlight: new Gauge({
      name: 'gateway_long_polls_in_flight',
      help: 'GET /sync/changes calls this gateway holds open (each holds one upstream connection)',
      registers: [registry],
    }),
    longPollsAnsweredEarly: new Counter({
      name: 'gateway_long_polls_answered_early_total',
      help: 'Long-polls answered at once with an empty page because this gateway held too many (per_user: of that user; per_gateway: in all)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
