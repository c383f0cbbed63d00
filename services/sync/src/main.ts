import { runStorageService } from '@journal/shared';
import { buildApp, SERVICE } from './app.js';
import { configSchema } from './config.js';

await runStorageService({
  service: SERVICE,
  schema: configSchema,
  moduleUrl: import.meta.url,
  buildApp,
});
