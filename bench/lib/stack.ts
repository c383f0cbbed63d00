import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDependencies } from '../../scripts/lib/deps.js';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import {
  freePort,
  type ManagedProcess,
  onPath,
  startProcess,
  waitForPort,
} from '../../scripts/lib/proc.js';
import {
  freeMetricsPorts,
  NO_RATE_LIMITS,
  type ServiceName,
  type StackOptions,
  startStack,
} from '../../scripts/lib/stack.js';
import { TSX } from './measure.js';

export interface BenchStack {
  urls: Record<ServiceName, string>;
  procs: Record<ServiceName, ManagedProcess>;
  mongoUrl: string;
  redisUrl: string;
  options: StackOptions;
  stop(): Promise<void>;
}

/** The whole stack as `make dev` runs it, on free ports, with a database of its own. */
export async function startBenchStack(env: Record<string, string> = {}): Promise<BenchStack> {
  const deps = await startDependencies();
  const keys = await generateSigningKey('bench');
  const ports = {
    gateway: await freePort(),
    auth: await freePort(),
    sync: await freePort(),
    attachments: await freePort(),
  };
  const options: StackOptions = {
    mongoUrl: deps.mongo.url,
    redisUrl: deps.redis.url,
    keys,
    ports,
    metricsPorts: await freeMetricsPorts(),
    dbName: `bench_${Date.now()}`,
    logLevel: 'warn',
    output: 'ignore',
    env: {
      // Benchmarks measure throughput, not abuse protection.
      ...NO_RATE_LIMITS,
      PASSWORD_SCRYPT_LOG_N: process.env.PASSWORD_SCRYPT_LOG_N ?? '17',
      ...env,
    },
  };
  const procs = await startStack(options);
  const urls = Object.fromEntries(
    Object.entries(ports).map(([name, port]) => [name, `http://127.0.0.1:${port}`]),
  ) as Record<ServiceName, string>;
  return {
    urls,
    procs,
    mongoUrl: deps.mongo.url,
    redisUrl: deps.redis.url,
    options,
    stop: async () => {
      await Promise.all(Object.values(procs).map((p) => p.stop()));
      await deps.stop();
    },
  };
}

/** nginx (Debian package) with one worker proxying to `upstreams`, as a platform team would. */
export async function startNginx(upstreams: Record<string, string>) {
  const nginx = (await onPath('nginx')) ?? '/usr/sbin/nginx';
  const dir = await mkdtemp(join(tmpdir(), 'journal-nginx-'));
  const port = await freePort();
  const blocks = Object.entries(upstreams)
    .map(
      ([name, url]) => `upstream ${name} { server ${url.replace('http://', '')}; keepalive 64; }`,
    )
    .join('\n');
  const locations = Object.keys(upstreams)
    .map(
      (name) => `location /${name}/ {
        proxy_pass http://${name}/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Request-Id $request_id;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header Authorization $http_authorization;
      }`,
    )
    .join('\n');
  await writeFile(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${blocks}
  server {
    listen 127.0.0.1:${port};
    ${locations}
  }
}
`,
  );
  const proc = startProcess('nginx', nginx, ['-p', dir, '-c', join(dir, 'nginx.conf')]);
  await waitForPort(port, 10_000, 'nginx', proc.child);
  return { url: `http://127.0.0.1:${port}`, stop: () => proc.stop('SIGQUIT') };
}

/**
 * The least a Node.js reverse proxy does (bench/lib/node-proxy.ts: node:http and an undici pool,
 * no checks), routed like `startNginx`: the floor under any Node.js gateway on this machine.
 */
export async function startNodeProxy(upstreams: Record<string, string>) {
  const port = await freePort();
  const script = fileURLToPath(new URL('./node-proxy.ts', import.meta.url));
  const proc = startProcess('node-proxy', process.execPath, [
    TSX,
    script,
    JSON.stringify({ port, upstreams }),
  ]);
  await waitForPort(port, 10_000, 'node-proxy', proc.child);
  return { url: `http://127.0.0.1:${port}`, stop: () => proc.stop() };
}
