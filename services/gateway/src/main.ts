// Tracing first: fastify, undici and ioredis must load after their instrumentations (when
// OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise this loads nothing of OpenTelemetry).
import { startTracing } from '@journal/shared/tracing';

await startTracing('gateway');
const { connectRedis, packageVersion, redisTargetFromConfig, runService } = await import(
  '@journal/shared'
);
const { buildApp, redisOptions, SERVICE } = await import('./app.js');
const { configSchema } = await import('./config.js');

await runService({
  service: SERVICE,
  schema: configSchema,
  async start(config, logger) {
    const redis = await connectRedis(redisTargetFromConfig(config), {
      logger,
      options: redisOptions(config.REDIS_KEY_PREFIX),
    });
    const app = await buildApp({ config, logger, redis, version: packageVersion(import.meta.url) });
    return {
      app,
      close: async () => {
        redis.disconnect();
      },
    };
  },
});
