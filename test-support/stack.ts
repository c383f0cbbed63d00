import { generateSigningKey } from '../scripts/lib/keys.js';
import { freePort } from '../scripts/lib/proc.js';
import {
  freeMetricsPorts,
  metricsPort,
  SERVICES,
  type ServiceName,
  type StackOptions,
  startService,
  startStack,
} from '../scripts/lib/stack.js';
import { mongoUrl, redisUrl, uniqueName } from './index.js';
import { buildAll } from './processes.js';

export { buildAll };

export interface TestStack {
  gateway: string;
  urls: Record<ServiceName, string>;
  /** Base URL of each service's metrics listener (METRICS_PORT): `${metricsUrls.sync}/metrics`. */
  metricsUrls: Record<ServiceName, string>;
  options: StackOptions;
  /** Every line every service printed so far. */
  logs(): string[];
  /** SIGKILL one service (fault injection). */
  kill(name: ServiceName): Promise<void>;
  /** Start a killed service again on the same port. */
  restart(name: ServiceName): Promise<void>;
  stop(): Promise<void>;
}

/**
 * All four services as real processes on free ports, in front of the run's MongoDB-wire server
 * and Redis, with a database name and Redis key prefix of their own.
 */
export async function startTestStack(
  label: string,
  env: Record<string, string> = {},
  servers: { mongoUrl?: string; redisUrl?: string } = {},
): Promise<TestStack> {
  await buildAll();
  // A port picked free can be taken before the service binds it (another file's process, or an
  // outgoing connection's ephemeral port), and the service exits at start: start again on fresh
  // ports, three times at most (a service that cannot start fails all three).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startTestStackOnce(label, env, servers);
    } catch (err) {
      if (attempt >= 3 || !/exited with code/.test((err as Error).message)) throw err;
    }
  }
}

async function startTestStackOnce(
  label: string,
  env: Record<string, string>,
  servers: { mongoUrl?: string; redisUrl?: string },
): Promise<TestStack> {
  const name = uniqueName(label);
  const ports = {
    gateway: await freePort(),
    auth: await freePort(),
    sync: await freePort(),
    attachments: await freePort(),
  };
  const options: StackOptions = {
    mongoUrl: servers.mongoUrl ?? mongoUrl(),
    redisUrl: servers.redisUrl ?? redisUrl(),
    keys: await generateSigningKey(`${label}-key`),
    ports,
    metricsPorts: await freeMetricsPorts(),
    dbName: name,
    logLevel: 'info',
    output: 'pipe',
    env: { NODE_ENV: 'test', REDIS_KEY_PREFIX: `${name}:`, PASSWORD_SCRYPT_LOG_N: '14', ...env },
  };
  const lines: string[] = [];
  const capture = (proc: Awaited<ReturnType<typeof startService>>) => {
    // A pipe read can end mid-line: each stream keeps its unfinished tail for the next read.
    const collector = () => {
      let tail = '';
      return (d: Buffer) => {
        const parts = (tail + d.toString()).split('\n');
        tail = parts.pop() ?? '';
        lines.push(...parts.filter(Boolean));
      };
    };
    proc.child.stdout?.on('data', collector());
    proc.child.stderr?.on('data', collector());
    return proc;
  };
  const procs = await startStack(options);
  for (const p of Object.values(procs)) capture(p);
  const urls = Object.fromEntries(
    SERVICES.map((s) => [s, `http://127.0.0.1:${ports[s]}`]),
  ) as Record<ServiceName, string>;
  const metricsUrls = Object.fromEntries(
    SERVICES.map((s) => [s, `http://127.0.0.1:${metricsPort(s, options)}`]),
  ) as Record<ServiceName, string>;
  return {
    gateway: urls.gateway,
    urls,
    metricsUrls,
    options,
    logs: () => lines,
    kill: async (service) => {
      await procs[service].stop('SIGKILL');
    },
    restart: async (service) => {
      procs[service] = capture(await startService(service, options));
    },
    stop: async () => {
      await Promise.all(Object.values(procs).map((p) => p.stop()));
    },
  };
}
