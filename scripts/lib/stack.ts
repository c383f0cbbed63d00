import { join } from 'node:path';
import type { DevKeys } from './keys.js';
import { freePort, type ManagedProcess, startProcess, waitForPort } from './proc.js';
import { ROOT } from './tools.js';

export const SERVICES = ['auth', 'sync', 'attachments', 'gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * Rate limits raised out of the way, for runs that measure or fuzz the API rather than its
 * abuse protection (make bench, make fuzz and its short run in make test).
 */
export const NO_RATE_LIMITS: Record<string, string> = {
  RATE_LIMIT_MAX: '100000000',
  RATE_LIMIT_AUTHENTICATED_MAX: '100000000',
  AUTH_LOGIN_MAX_FAILURES_PER_IP: '1000000',
  AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '1000000',
  AUTH_REGISTER_MAX_PER_IP: '1000000',
};

export interface StackOptions {
  mongoUrl: string;
  redisUrl: string;
  keys: DevKeys;
  ports: Record<ServiceName, number>;
  /**
   * Ports of the metrics listeners (METRICS_PORT); default: each service's port + 1000, as the
   * services themselves default. Stacks that run next to others (tests, bench) pick free ones.
   */
  metricsPorts?: Record<ServiceName, number>;
  dbName?: string;
  logLevel?: string;
  /** Extra variables for every service (e.g. QINIU_*). */
  env?: Record<string, string>;
  /** Extra variables for one service only, applied last (e.g. `make dev`'s pass-through). */
  envByService?: Partial<Record<ServiceName, Record<string, string>>>;
  output?: 'inherit' | 'ignore' | 'pipe';
}

/** The port of one service's metrics listener (`GET /metrics`). */
export function metricsPort(name: ServiceName, o: Pick<StackOptions, 'ports' | 'metricsPorts'>) {
  return o.metricsPorts?.[name] ?? o.ports[name] + 1000;
}

/** Free ports for the four metrics listeners (METRICS_PORT), for stacks that run side by side. */
export async function freeMetricsPorts(): Promise<Record<ServiceName, number>> {
  return {
    auth: await freePort(),
    sync: await freePort(),
    attachments: await freePort(),
    gateway: await freePort(),
  };
}

/** The environment each service gets, the same way a deployment sets it. */
export function serviceEnv(name: ServiceName, o: StackOptions): NodeJS.ProcessEnv {
  const base: Record<string, string> = {
    NODE_ENV: 'development',
    LOG_LEVEL: o.logLevel ?? 'info',
    HOST: '127.0.0.1',
    PORT: String(o.ports[name]),
    METRICS_PORT: String(metricsPort(name, o)),
    REDIS_URL: o.redisUrl,
    JWT_PUBLIC_KEYS: o.keys.jwks,
    ...o.env,
  };
  if (name !== 'gateway') {
    // Behind the gateway, which overwrites X-Forwarded-For with the one address it verified.
    base.TRUST_PROXY_HOPS ??= '1';
    base.MONGODB_URL = o.mongoUrl;
    base.MONGODB_DB_NAME = o.dbName ?? 'journal';
  }
  if (name === 'auth') {
    base.JWT_PRIVATE_KEY = o.keys.privateKeyPem;
    base.JWT_KEY_ID = o.keys.kid;
  }
  if (name === 'gateway') {
    base.AUTH_URL = `http://127.0.0.1:${o.ports.auth}`;
    base.SYNC_URL = `http://127.0.0.1:${o.ports.sync}`;
    base.ATTACHMENTS_URL = `http://127.0.0.1:${o.ports.attachments}`;
  }
  Object.assign(base, o.envByService?.[name]);
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...base };
}

/** Starts one compiled service (`services/<name>/dist/main.js`) and waits for its port. */
export async function startService(name: ServiceName, o: StackOptions): Promise<ManagedProcess> {
  const proc = startProcess(
    name,
    process.execPath,
    // SERVICE_NODE_ARGS passes V8 flags NODE_OPTIONS refuses (e.g. --cpu-prof for profiling).
    [
      ...(process.env.SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      join(ROOT, 'services', name, 'dist', 'main.js'),
    ],
    {
      env: serviceEnv(name, o),
      cwd: ROOT,
      output: o.output ?? 'inherit',
    },
  );
  await waitForPort(o.ports[name], 30_000, name, proc.child);
  // Whoever listens must be this service: a port taken by another process (the service then
  // exits at start) would otherwise pass for it.
  const health = await fetch(`http://127.0.0.1:${o.ports[name]}/health`, {
    signal: AbortSignal.timeout(10_000),
  })
    .then((r) => r.json() as Promise<{ service?: string }>)
    .catch(() => ({ service: undefined }));
  if (health.service !== name || proc.child.exitCode !== null) {
    await proc.stop();
    throw new Error(
      `${name} did not start: port ${o.ports[name]} answers for ${health.service ?? 'nothing'} (exited with code ${proc.child.exitCode})`,
    );
  }
  return proc;
}

/** All four services, upstreams first. */
export async function startStack(o: StackOptions): Promise<Record<ServiceName, ManagedProcess>> {
  const procs: Partial<Record<ServiceName, ManagedProcess>> = {};
  try {
    await Promise.all(
      (['auth', 'sync', 'attachments'] as const).map(async (n) => {
        procs[n] = await startService(n, o);
      }),
    );
    procs.gateway = await startService('gateway', o);
  } catch (err) {
    await Promise.all(Object.values(procs).map((p) => p.stop()));
    throw err;
  }
  return procs as Record<ServiceName, ManagedProcess>;
}
