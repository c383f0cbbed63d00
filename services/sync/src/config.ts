import { envInt, mongoConfigShape, serviceConfigSchema } from '@journal/shared';
import type { z } from 'zod';

export const configSchema = serviceConfigSchema({
  ...mongoConfigShape,
  PORT: envInt(0, 65535).default(8002),
});

export type Config = z.infer<typeof configSchema>;
