import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import {
  freePort,
  type ManagedProcess,
  startProcess,
  waitForPort,
} from '../../scripts/lib/proc.js';
import { ROOT } from '../../scripts/lib/tools.js';
import { mongoUrl, redisUrl, uniqueName } from '../../test-support/index.js';
import {
  containerEnv,
  deploymentsByService,
  ensureBuilt,
  ensureDeployTools,
  entryOf,
  type K8sObject,
  mainContainer,
  renderChart,
  SERVICES,
  type Service,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';

/**
 * The chart's contract with the code: each Deployment's environment, ports and probe paths,
 * taken from a render and run for real against this run's MongoDB-wire server and Redis.
 */
interface Probe {
  kind: string;
  path: string;
  port: string | number;
}

const UPSTREAM_VARIABLES: Record<string, Service> = {
  AUTH_URL: 'auth',
  SYNC_URL: 'sync',
  ATTACHMENTS_URL: 'attachments',
};

const processes: ManagedProcess[] = [];
const outputs = new Map<Service, string[]>();
const localPorts = {} as Record<Service, number>;
/** Free ports standing in for each rendered METRICS_PORT (9000… would collide between runs). */
const localMetricsPorts = {} as Record<Service, number>;
let deployments: Record<Service, K8sObject>;
let objects: K8sObject[];

function probesOf(container: K8sObject): Probe[] {
  return ['startupProbe', 'livenessProbe', 'readinessProbe']
    .filter((kind) => container[kind])
    .map((kind) => ({
      kind,
      path: container[kind].httpGet.path,
      port: container[kind].httpGet.port,
    }));
}

async function start(service: Service, env: Record<string, string>) {
  const proc = startProcess(service, process.execPath, [entryOf(service)], {
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: join(ROOT, 'services', service),
    output: 'pipe',
  });
  const lines: string[] = [];
  outputs.set(service, lines);
  proc.child.stdout?.on('data', (d) => lines.push(String(d)));
  proc.child.stderr?.on('data', (d) => lines.push(String(d)));
  processes.push(proc);
  await waitForPort(localPorts[service], 30_000, service, proc.child).catch((err: Error) => {
    throw new Error(`${err.message}\n${lines.join('')}`);
  });
}

beforeAll(async () => {
  const build = ensureBuilt();
  await ensureDeployTools();
  const key = await generateSigningKey('contract');
  const rendered = await renderChart({
    values: {
      externalMongodb: { url: mongoUrl() },
      externalRedis: { url: redisUrl() },
      config: {
        mongodbDatabase: uniqueName('chart_contract'),
        redisKeyPrefix: `${uniqueName('cc')}:`,
      },
      jwt: { privateKey: key.privateKeyPem, keyId: key.kid, publicKeys: key.jwks },
    },
  });
  objects = rendered.objects;
  deployments = deploymentsByService(objects);
  for (const s of SERVICES) {
    localPorts[s] = await freePort();
    localMetricsPorts[s] = await freePort();
  }
  await build;

  const envOf = (service: Service) => {
    const env = containerEnv(mainContainer(deployments[service]), objects) as Record<
      string,
      string
    >;
    for (const [name, upstream] of Object.entries(UPSTREAM_VARIABLES))
      if (env[name]) env[name] = `http://127.0.0.1:${localPorts[upstream]}`;
    if (env.JWT_JWKS_URL)
      env.JWT_JWKS_URL = `http://127.0.0.1:${localPorts.auth}${new URL(env.JWT_JWKS_URL).pathname}`;
    return {
      ...env,
      HOST: '127.0.0.1',
      PORT: String(localPorts[service]),
      METRICS_PORT: String(localMetricsPorts[service]),
    };
  };
  await Promise.all((['auth', 'sync', 'attachments'] as const).map((s) => start(s, envOf(s))));
  await start('gateway', envOf('gateway'));
}, TOOL_INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
});

describe('chart contract: each Deployment, started with its rendered environment', () => {
  it.each(SERVICES)('%s answers 200 on every probe path the chart configures', async (service) => {
    const container = mainContainer(deployments[service]);
    const probes = probesOf(container);
    expect(probes.map((p) => p.kind).sort()).toEqual([
      'livenessProbe',
      'readinessProbe',
      'startupProbe',
    ]);
    const namedPorts = Object.fromEntries(
      (container.ports as { name: string; containerPort: number }[]).map((p) => [
        p.name,
        p.containerPort,
      ]),
    );
    const env = containerEnv(container, objects);
    for (const probe of probes) {
      // In the cluster the probe hits this container port, which must be where the service listens.
      const port = typeof probe.port === 'number' ? probe.port : namedPorts[probe.port];
      expect(String(port), `${service} ${probe.kind} port`).toBe(env.PORT);
      const res = await fetch(`http://127.0.0.1:${localPorts[service]}${probe.path}`);
      const body = await res.text();
      expect(res.status, `${service} ${probe.kind} ${probe.path}: ${body}`).toBe(200);
    }
  });

  it.each(SERVICES)(
    '%s serves /metrics on the port the chart names `metrics`, and 404 on `http`',
    async (service) => {
      const container = mainContainer(deployments[service]);
      const ports = Object.fromEntries(
        (container.ports as { name: string; containerPort: number }[]).map((p) => [
          p.name,
          p.containerPort,
        ]),
      );
      const env = containerEnv(container, objects);
      expect(String(ports.metrics), service).toBe(env.METRICS_PORT);
      expect(String(ports.http), service).toBe(env.PORT);
      const metrics = await fetch(`http://127.0.0.1:${localMetricsPorts[service]}/metrics`);
      expect(metrics.status, service).toBe(200);
      expect(await metrics.text(), service).toContain(
        `process_cpu_seconds_total{service="${service}"}`,
      );
      const pub = await fetch(`http://127.0.0.1:${localPorts[service]}/metrics`);
      expect(pub.status, service).toBe(404);
    },
  );

  it('runs every service in production mode from the rendered NODE_ENV', () => {
    for (const service of SERVICES) {
      const env = containerEnv(mainContainer(deployments[service]), objects);
      expect(env.NODE_ENV, service).toBe('production');
      expect(processes.find((p) => p.name === service)?.child.exitCode, service).toBeNull();
    }
  });

  it('serves a user signed in through the gateway from every upstream the render names', async () => {
    // Checks what the chart wires together: the gateway reaches AUTH_URL, SYNC_URL and
    // ATTACHMENTS_URL; auth signs with JWT_PRIVATE_KEY/JWT_KEY_ID and writes the session under
    // REDIS_KEY_PREFIX where the gateway looks; every service trusts JWT_PUBLIC_KEYS.
    const gateway = (path: string) => `http://127.0.0.1:${localPorts.gateway}${path}`;
    const register = await fetch(gateway('/auth/register'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        username: `u${Date.now().toString(36)}`,
        password: 'correct horse battery staple',
      }),
    });
    const session = (await register.json()) as { accessToken?: string };
    expect(register.status, JSON.stringify(session)).toBe(201);
    const headers = { authorization: `Bearer ${session.accessToken}` };
    for (const path of ['/auth/me', '/sync/changes', '/attachments']) {
      const res = await fetch(gateway(path), { headers });
      expect(res.status, `${path}: ${await res.text()}`).toBe(200);
    }
    // And a service reached around the gateway still verifies the token itself.
    const direct = await fetch(`http://127.0.0.1:${localPorts.sync}/sync/changes`, { headers });
    expect(direct.status, await direct.text()).toBe(200);
    const anonymous = await fetch(`http://127.0.0.1:${localPorts.sync}/sync/changes`);
    expect(anonymous.status).toBe(401);
  });
});
