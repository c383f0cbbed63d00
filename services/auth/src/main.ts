// Tracing first: fastify, mongodb and ioredis must load after their instrumentations (when
// OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise this loads nothing of OpenTelemetry).
import { startTracing } from '@journal/shared/tracing';

await startTracing('auth');
const { runStorageService } = await import('@journal/shared');
const { buildApp, SERVICE } = await import('./app.js');
const { configSchema } = await import('./config.js');

await runStorageService({
  service: SERVICE,
  schema: configSchema,
  moduleUrl: import.meta.url,
  buildApp,
});
