import { connectRedis, packageVersion, runService } from '@journal/shared';
import { buildApp, redisOptions, SERVICE } from './app.js';
import { configSchema } from './config.js';

await runService({
  service: SERVICE,
  schema: configSchema,
  async start(config, logger) {
    const redis = await connectRedis(config.REDIS_URL, {
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
