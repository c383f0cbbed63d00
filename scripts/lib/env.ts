/**
 * The variables each service reads, taken from the services' own config schemas (so a new
 * variable is passed through by `make dev` the day it is added), and the environment a stack
 * passes to each service from the caller's.
 */
import { configSchema as attachmentsSchema } from '../../services/attachments/src/config.js';
import { configSchema as authSchema } from '../../services/auth/src/config.js';
import { configSchema as gatewaySchema } from '../../services/gateway/src/config.js';
import { configSchema as syncSchema } from '../../services/sync/src/config.js';
import type { DevKeys } from './keys.js';
import type { ServiceName, StackOptions } from './stack.js';

interface ObjectSchema {
  shape?: Record<string, unknown>;
  _zod?: { def?: { in?: { shape?: Record<string, unknown> } } };
}

function keysOf(schema: unknown, service: string): string[] {
  const s = schema as ObjectSchema;
  // A plain object schema (refinements keep the shape in zod 4), or a pipe whose input is one.
  const shape = s.shape ?? s._zod?.def?.in?.shape;
  if (!shape)
    throw new Error(`services/${service}/src/config.ts: configSchema has no object shape`);
  return Object.keys(shape);
}

/** Every variable each service's config schema reads. */
export const SERVICE_VARIABLES: Record<ServiceName, readonly string[]> = {
  auth: keysOf(authSchema, 'auth'),
  sync: keysOf(syncSchema, 'sync'),
  attachments: keysOf(attachmentsSchema, 'attachments'),
  gateway: keysOf(gatewaySchema, 'gateway'),
};

/**
 * Variables a stack sets per service itself (ports, where the stores and upstreams are): the
 * caller's value of these is not passed through (`make dev` reads PORT, MONGODB_URL and
 * REDIS_URL for the stack as a whole).
 */
export const STACK_VARIABLES: ReadonlySet<string> = new Set([
  'PORT',
  'METRICS_PORT',
  'MONGODB_URL',
  'REDIS_URL',
  'AUTH_URL',
  'SYNC_URL',
  'ATTACHMENTS_URL',
]);

/**
 * From `env` (the caller's environment), the variables each service reads, non-empty, minus
 * those the stack sets itself: what `make dev` passes to each service.
 */
export function passthroughEnv(
  env: NodeJS.ProcessEnv = process.env,
): Record<ServiceName, Record<string, string>> {
  const pick = (service: ServiceName) =>
    Object.fromEntries(
      SERVICE_VARIABLES[service]
        .filter((name) => !STACK_VARIABLES.has(name))
        .map((name) => [name, env[name]])
        .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''),
    );
  return {
    auth: pick('auth'),
    sync: pick('sync'),
    attachments: pick('attachments'),
    gateway: pick('gateway'),
  };
}

/** `make dev`'s ports: the gateway on GATEWAY_PORT or PORT (8000), the services next to it. */
export function devPorts(env: NodeJS.ProcessEnv = process.env): Record<ServiceName, number> {
  const gateway = Number(env.GATEWAY_PORT || env.PORT || 8000);
  return {
    gateway,
    auth: Number(env.AUTH_PORT || gateway + 1),
    sync: Number(env.SYNC_PORT || gateway + 2),
    attachments: Number(env.ATTACHMENTS_PORT || gateway + 3),
  };
}

/**
 * The stack `make dev` starts, from the caller's environment: every variable a service's config
 * schema reads is passed to that service (metrics on each port + 1000, the services' default).
 */
export function devStackOptions(
  env: NodeJS.ProcessEnv,
  deps: { mongoUrl: string; redisUrl: string; keys: DevKeys },
): StackOptions {
  return {
    ...deps,
    ports: devPorts(env),
    logLevel: env.LOG_LEVEL || 'info',
    envByService: passthroughEnv(env),
  };
}
