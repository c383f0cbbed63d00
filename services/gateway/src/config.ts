import { envInt, httpUrl, serviceConfigSchema } from '@journal/shared';
import type { z } from 'zod';

export const configSchema = serviceConfigSchema({
  PORT: envInt(0, 65535).default(8000),
  AUTH_URL: httpUrl.default('http://127.0.0.1:8001'),
  SYNC_URL: httpUrl.default('http://127.0.0.1:8002'),
  ATTACHMENTS_URL: httpUrl.default('http://127.0.0.1:8003'),
});

export type Config = z.infer<typeof configSchema>;
