import { z } from 'zod';

/**
 * Environment variables whose values must never appear in a message or a log line.
 * Names are matched by suffix so a service can add its own secrets (e.g. `JWT_PRIVATE_KEY`).
 */
const SECRET_NAME = /(SECRET|PASSWORD|PRIVATE_KEY|TOKEN|_KEY)$|^(MONGODB_URL|REDIS_URL)$/;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(problems: { variable: string; message: string }[]) {
    super(
      `Invalid configuration: ${problems.map((p) => `${p.variable}: ${p.message}`).join('; ')}`,
    );
    this.name = 'ConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

const mongoUrl = z
  .string({ error: 'is required' })
  .refine((v) => /^mongodb(\+srv)?:\/\/[^\s]+$/.test(v), {
    error: 'must be a mongodb:// or mongodb+srv:// URL',
  });

const redisUrl = z
  .string({ error: 'is required' })
  .refine((v) => /^rediss?:\/\/[^\s]*$/.test(v), { error: 'must be a redis:// or rediss:// URL' });

/** An integer read from the environment, e.g. `PORT=3000`. */
export const envInt = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

/** A boolean read from the environment: true/false/1/0/yes/no. */
export const envBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const httpUrl = z
  .string({ error: 'is required' })
  .refine((v) => /^https?:\/\/[^\s]+$/.test(v), { error: 'must be an http:// or https:// URL' });

/** Variables every service reads. */
export const baseConfigShape = {
  NODE_ENV: z
    .enum(['development', 'production', 'test'], {
      error: 'must be development, production or test',
    })
    .default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{0,64}$/, { error: 'must be at most 64 of [A-Za-z0-9:_-]' })
    .default('journal:'),
  PORT: envInt(0, 65535).default(3000),
  /**
   * Port of the metrics listener (`GET /metrics`, bound on HOST like PORT); default PORT + 1000.
   * The public port never serves /metrics.
   */
  METRICS_PORT: envInt(0, 65535).optional(),
  /**
   * Which peers may set X-Forwarded-For (proxy-addr syntax): by default loopback and private
   * networks, i.e. the gateway and an ingress inside the cluster.
   */
  TRUST_PROXY: z
    .string()
    .default('loopback,linklocal,uniquelocal,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16'),
  /** Socket idle timeout: a client that sends nothing for this long is disconnected. */
  HTTP_IDLE_TIMEOUT_MS: envInt(1_000, 3_600_000).default(65_000),
  SHUTDOWN_TIMEOUT_MS: envInt(0, 600_000).default(10_000),
  JWT_ISSUER: z.string().min(1).default('journal-auth'),
  JWT_AUDIENCE: z.string().min(1).default('journal'),
  /** JSON Web Key Set (`{"keys":[...]}`) of trusted public keys; takes precedence over JWT_JWKS_URL. */
  JWT_PUBLIC_KEYS: z.string().optional(),
  /** Where to fetch the JWKS from (the auth service's /.well-known/jwks.json). */
  JWT_JWKS_URL: httpUrl.optional(),
} as const;

/** Variables of the services that store data in MongoDB (all but the gateway). */
export const mongoConfigShape = {
  MONGODB_URL: mongoUrl,
  MONGODB_DB_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, { error: 'must be 1-63 letters, digits, _ or -' })
    .default('journal'),
} as const;

export type BaseConfig = z.infer<z.ZodObject<typeof baseConfigShape>>;

/**
 * Parses `env` with `schema`. On failure throws one ConfigError naming every offending
 * variable; messages come from the schema and never include the offending value.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  // Empty strings count as unset, the way shells and compose files often pass them.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    variable: issue.path.map(String).join('.') || '(environment)',
    message: issue.message,
  }));
  throw new ConfigError(problems);
}

export function serviceConfigSchema<T extends z.ZodRawShape>(extra: T) {
  return z.object({ ...baseConfigShape, ...extra });
}
