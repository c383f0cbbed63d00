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

/** `host:port,host:port` (Sentinels, Cluster seed nodes); IPv6 hosts in brackets: `[::1]:26379`. */
const hostPortList = z.string().transform((v, ctx) => {
  const nodes: { host: string; port: number }[] = [];
  for (const item of v.split(',').map((s) => s.trim())) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of host:port' });
      return z.NEVER;
    }
    nodes.push({ host: (m[1] as string).replace(/^\[|\]$/g, ''), port });
  }
  return nodes;
});

/** An integer read from the environment, e.g. `PORT=3000`. */
export const envInt = (min: number, max: number) =>
  z.coerce
    .number({ error: 'must be an integer' })
    .int({ error: 'must be an integer' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

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
  /**
   * Read by Node itself, not by the service: listed so a deployment may set it. The chart gives
   * each container `--max-old-space-size` of half its memory limit (docs/scaling.md, "Memory").
   */
  NODE_OPTIONS: z.string().optional(),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** Exactly one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES (checked below). */
  REDIS_URL: redisUrl.optional(),
  /** Sentinels that elect the primary named REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS: hostPortList.optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1-64 of A-Z a-z 0-9 . _ -' })
    .default('mymaster'),
  /** Seed nodes of a Redis Cluster. */
  REDIS_CLUSTER_NODES: hostPortList.optional(),
  /** Password of the Redis servers (Sentinel and Cluster; a URL carries its own). */
  REDIS_PASSWORD: z.string().optional(),
  /** Password of the Sentinels themselves, when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
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
   * How many proxies stand in front of this process (fastify's `trustProxy` hop count): the
   * client address is the one the outermost of them saw, whatever else X-Forwarded-For says.
   * 0 (the default): X-Forwarded-For is ignored and the socket's peer is the client.
   */
  TRUST_PROXY_HOPS: envInt(0, 16).default(0),
  /**
   * Instead of a hop count: the proxies' own addresses (comma-separated IPs or CIDRs, or
   * proxy-addr's `loopback`/`linklocal`/`uniquelocal`). No default: nothing is trusted unless
   * named. Set one of TRUST_PROXY and TRUST_PROXY_HOPS, not both.
   */
  TRUST_PROXY: z
    .string()
    .regex(/^[0-9A-Za-z.:/, ]+$/, { error: 'must be comma-separated IP addresses or CIDRs' })
    .optional(),
  /** Socket idle timeout: a client that sends nothing for this long is disconnected. */
  HTTP_IDLE_TIMEOUT_MS: envInt(1_000, 3_600_000).default(65_000),
  SHUTDOWN_TIMEOUT_MS: envInt(0, 600_000).default(10_000),
  JWT_ISSUER: z.string().min(1).default('journal-auth'),
  JWT_AUDIENCE: z.string().min(1).default('journal'),
  /** JSON Web Key Set (`{"keys":[...]}`) of trusted public keys; takes precedence over JWT_JWKS_URL. */
  JWT_PUBLIC_KEYS: z.string().optional(),
  /** Where to fetch the JWKS from (the auth service's /.well-known/jwks.json). */
  JWT_JWKS_URL: httpUrl.optional(),
  /**
   * Lifetime of access tokens: auth issues them for this long, every service refuses a token
   * whose `exp - iat` is longer and keeps a revoked session's id this long after the revocation.
   */
  JWT_ACCESS_TTL_SECONDS: envInt(30, 86_400).default(3600),
} as const;

/**
 * The largest attachment: the attachments service refuses uploads over it (and Qiniu tokens
 * allow no more), and the gateway refuses them on the declared Content-Length before proxying.
 * One variable, one default, read by both.
 */
export const attachmentsLimitShape = {
  ATTACHMENTS_MAX_BYTES: envInt(0, 2 ** 50).default(100 * 1024 * 1024),
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

/** Exactly one Redis deployment must be named: a URL, Sentinels or Cluster nodes. */
function checkRedisTarget(
  config: { REDIS_URL?: unknown; REDIS_SENTINELS?: unknown; REDIS_CLUSTER_NODES?: unknown },
  ctx: z.core.$RefinementCtx,
): void {
  const given = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter(
    (name) => config[name] !== undefined,
  );
  if (given.length === 1) return;
  ctx.addIssue({
    code: 'custom',
    path: [given.length === 0 ? 'REDIS_URL' : given.join('/')],
    message:
      given.length === 0
        ? 'is required (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES)'
        : 'set exactly one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES',
  });
}

/** Proxy trust is a list of proxy addresses or a hop count, never both. */
function checkTrustProxy(
  config: { TRUST_PROXY?: unknown; TRUST_PROXY_HOPS?: unknown },
  ctx: z.core.$RefinementCtx,
): void {
  if (config.TRUST_PROXY && config.TRUST_PROXY_HOPS) {
    ctx.addIssue({
      code: 'custom',
      path: ['TRUST_PROXY'],
      message: 'set either TRUST_PROXY (proxy addresses) or TRUST_PROXY_HOPS (a count), not both',
    });
  }
}

export function serviceConfigSchema<T extends z.ZodRawShape>(extra: T) {
  // `when`: also runs when other variables are wrong, so one error names every problem.
  const when = {
    when: (payload: { value: unknown }) =>
      typeof payload.value === 'object' && payload.value !== null,
  };
  return z
    .object({ ...baseConfigShape, ...extra })
    .superRefine(checkRedisTarget, when)
    .superRefine(checkTrustProxy, when);
}

/**
 * Fastify's `trustProxy` from TRUST_PROXY / TRUST_PROXY_HOPS: a list of proxy addresses, a hop
 * count, or `false` (X-Forwarded-For ignored). proxy-addr (inside fastify) walks the header.
 */
export function trustProxyOption(config: {
  TRUST_PROXY?: string | undefined;
  TRUST_PROXY_HOPS?: number | undefined;
}): string[] | number | false {
  const list = (config.TRUST_PROXY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length) return list;
  return config.TRUST_PROXY_HOPS ? config.TRUST_PROXY_HOPS : false;
}
