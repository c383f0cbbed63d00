import { connectMongo, connectRedis, packageVersion, runService } from '@journal/shared';
import { buildApp, SERVICE } from './app.js';
import { configSchema } from './config.js';

await runService({
  service: SERVICE,
  schema: configSchema,
  async start(config, logger) {
    const mongo = await connectMongo(config.MONGODB_URL, {
      dbName: config.MONGODB_DB_NAME,
      logger,
    });
    const redis = await connectRedis(config.REDIS_URL, {
      logger,
      options: { keyPrefix: config.REDIS_KEY_PREFIX },
    });
    const app = await buildApp({
      config,
      logger,
      db: mongo.db,
      redis,
      version: packageVersion(import.meta.url),
    });
    return {
      app,
      close: async () => {
        await mongo.close();
        redis.disconnect();
      },
    };
  },
});
