import { connectRedis, packageVersion, redisTargetFromConfig, runService } from '@journal/shared';
import { buildApp, redisOptions, SERVICE } from './app.js';
import { configSchema } from './config.js';

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
