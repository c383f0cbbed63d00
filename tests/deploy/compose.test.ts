import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { composeSpecSchemaPath } from '../../scripts/lib/tools.js';
import {
  COMPOSE_DIR,
  type ComposeFile,
  type ComposeService,
  readCompose,
  SERVICES,
} from './lib.js';

const FILES = ['docker-compose.yml', 'docker-compose.prod.yml'] as const;
let validateSpec: ((data: unknown) => boolean) & { errors?: unknown };

beforeAll(async () => {
  const schema = JSON.parse(readFileSync(await composeSpecSchemaPath(), 'utf8')) as object;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  validateSpec = ajv.compile(schema);
});

const published = (s: ComposeService) => s.ports ?? [];
const dependsOn = (s: ComposeService) =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((d) => [d, { condition: 'service_started' }]))
    : (s.depends_on ?? {});
const namedVolumes = (s: ComposeService) =>
  (s.volumes ?? [])
    .map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source))
    .filter((v): v is string => Boolean(v) && !v?.startsWith('.') && !v?.startsWith('/'));

describe.each(FILES)('%s', (file) => {
  let compose: ComposeFile;
  beforeAll(() => {
    compose = readCompose(file);
  });

  it('is valid against the Compose Specification schema docker compose uses', () => {
    // Unmerged, as written: compose-go validates before it resolves merge keys.
    const raw = parseYaml(readFileSync(join(COMPOSE_DIR, file), 'utf8'), { merge: true });
    const ok = validateSpec(raw);
    expect(validateSpec.errors ?? [], file).toEqual([]);
    expect(ok).toBe(true);
  });

  it('builds the four services from the root Dockerfile with SERVICE and names them journal-<service>', () => {
    for (const service of SERVICES) {
      const s = compose.services[service] as ComposeService;
      expect(s, service).toBeTruthy();
      const context = resolve(COMPOSE_DIR, s.build?.context ?? '.');
      expect(existsSync(join(context, s.build?.dockerfile ?? 'Dockerfile')), service).toBe(true);
      expect(existsSync(join(context, 'package-lock.json')), `${service} context is the root`).toBe(
        true,
      );
      expect(s.build?.args?.SERVICE).toBe(service);
      expect(s.image).toMatch(new RegExp(`(^|/|})journal-${service}:`));
    }
  });

  it('has MongoDB and Redis on named volumes and a health check on every service', () => {
    expect(compose.services.mongodb?.image).toBe('mongo:7');
    expect(compose.services.redis?.image).toBe('redis:7-alpine');
    expect(namedVolumes(compose.services.mongodb as ComposeService)).toEqual(['mongodb_data']);
    expect(namedVolumes(compose.services.redis as ComposeService)).toEqual(['redis_data']);
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['mongodb_data', 'redis_data']);
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.healthcheck?.test, `${name} healthcheck`).toBeTruthy();
      expect(s.healthcheck?.disable, name).not.toBe(true);
    }
  });

  it('starts each service only once what it depends on is healthy', () => {
    for (const service of SERVICES) {
      const deps = dependsOn(compose.services[service] as ComposeService);
      expect(Object.keys(deps), service).toEqual(expect.arrayContaining(['mongodb', 'redis']));
      for (const [dep, { condition }] of Object.entries(deps)) {
        expect(condition, `${service} -> ${dep}`).toBe('service_healthy');
        expect(compose.services[dep]?.healthcheck, dep).toBeTruthy();
      }
    }
    const gatewayDeps = Object.keys(dependsOn(compose.services.gateway as ComposeService));
    expect(gatewayDeps).toEqual(expect.arrayContaining(['auth', 'sync', 'attachments']));
  });

  it('runs the web app from the Dockerfile web target, forwarding the API to the gateway', () => {
    const web = compose.services.web as ComposeService & { build?: { target?: string } };
    expect(web, 'web service').toBeTruthy();
    expect(web.build?.target).toBe('web');
    expect(existsSync(join(resolve(COMPOSE_DIR, web.build?.context ?? '.'), 'Dockerfile'))).toBe(
      true,
    );
    expect(web.image).toMatch(/(^|\/|})journal-web:/);
    expect(web.environment?.GATEWAY_URL).toBe('http://gateway:8000');
    expect(dependsOn(web).gateway?.condition).toBe('service_healthy');
    expect(String(web.healthcheck?.test ?? '')).toContain('/healthz');
  });

  it('calls /health with node in the service health checks (the images have no curl)', () => {
    for (const service of SERVICES) {
      const test = compose.services[service]?.healthcheck?.test as string[];
      expect(test[0]).toBe('CMD');
      expect(test[1]).toBe('node');
      expect(test.join(' ')).toContain('/health');
    }
  });
});

describe('docker-compose.yml (development)', () => {
  it('publishes only the gateway, on 8000, and the web app, on 8080', () => {
    const compose = readCompose('docker-compose.yml');
    const withPorts = Object.entries(compose.services).filter(([, s]) => published(s).length);
    expect(withPorts.map(([n]) => n).sort()).toEqual(['gateway', 'web']);
    expect(compose.services.gateway?.ports).toEqual(['8000:8000']);
    expect(compose.services.web?.ports).toEqual(['8080:8080']);
  });
});

describe('docker-compose.prod.yml (production)', () => {
  const compose = () => readCompose('docker-compose.prod.yml');

  it('publishes only nginx, on 80 and 443, with the TLS configuration mounted', () => {
    const c = compose();
    const withPorts = Object.entries(c.services).filter(([, s]) => published(s).length);
    expect(withPorts.map(([n]) => n)).toEqual(['nginx']);
    expect(c.services.nginx?.ports).toEqual(['80:80', '443:443']);
    const mounts = (c.services.nginx?.volumes ?? []).map(String);
    expect(mounts).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(mounts.some((m) => m.startsWith('./certs:'))).toBe(true);
    expect(existsSync(join(COMPOSE_DIR, 'nginx.conf.example'))).toBe(true);
  });

  it('turns on MongoDB authentication and a Redis password, both from .env', () => {
    const c = compose();
    const mongoEnv = c.services.mongodb?.environment ?? {};
    expect(mongoEnv.MONGO_INITDB_ROOT_PASSWORD).toMatch(/^\$\{MONGO_ROOT_PASSWORD:\?/);
    expect(String(c.services.redis?.command)).toContain('--requirepass');
    expect(c.services.redis?.environment?.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    for (const service of ['auth', 'sync', 'attachments']) {
      const env = c.services[service]?.environment ?? {};
      expect(env.MONGODB_URL, service).toMatch(/\$\{MONGO_ROOT_PASSWORD:\?[^}]*\}@mongodb:27017/);
      expect(env.MONGODB_URL, service).toContain('authSource=admin');
    }
    for (const service of SERVICES)
      expect(c.services[service]?.environment?.REDIS_URL, service).toMatch(
        /^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379/,
      );
  });

  it('restarts every container and limits its memory and CPU', () => {
    for (const [name, s] of Object.entries(compose().services)) {
      expect(s.restart, name).toBe('unless-stopped');
      expect(s.deploy?.resources?.limits?.memory, name).toBeTruthy();
      expect(s.deploy?.resources?.limits?.cpus, name).toBeTruthy();
    }
  });

  it('keeps MongoDB and Redis on an internal network that nginx is not on', () => {
    const c = compose();
    expect(c.networks?.backend?.internal).toBe(true);
    const nets = (n: string) => c.services[n]?.networks as string[];
    expect(nets('mongodb')).toEqual(['backend']);
    expect(nets('redis')).toEqual(['backend']);
    expect(nets('nginx')).not.toContain('backend');
    expect(nets('gateway')).toEqual(expect.arrayContaining(['frontend', 'backend']));
  });

  it('runs the Node services read-only (a tmpfs /tmp), without capabilities or privilege escalation', () => {
    const c = compose();
    for (const service of SERVICES) {
      const s = c.services[service] as ComposeService;
      expect(s.read_only, service).toBe(true);
      const tmpfs = Array.isArray(s.tmpfs) ? s.tmpfs : [s.tmpfs];
      expect(
        tmpfs.some((t) => t?.split(':')[0] === '/tmp'),
        `${service} /tmp`,
      ).toBe(true);
      expect(s.cap_drop, service).toEqual(['ALL']);
      expect(s.security_opt, service).toEqual(['no-new-privileges:true']);
    }
  });

  it('rotates every container’s logs (json-file, max-size, max-file)', () => {
    for (const [name, s] of Object.entries(compose().services)) {
      expect(s.logging?.driver, name).toBe('json-file');
      expect(s.logging?.options?.['max-size'], name).toMatch(/^\d+[kmg]$/);
      expect(Number(s.logging?.options?.['max-file']), name).toBeGreaterThanOrEqual(2);
    }
  });

  it('gives each Node service its metrics port (PORT + 1000) and publishes none of them', () => {
    const c = compose();
    for (const service of SERVICES) {
      const env = c.services[service]?.environment ?? {};
      expect(Number(env.METRICS_PORT), service).toBe(Number(env.PORT) + 1000);
      expect(c.services[service]?.ports ?? [], service).toEqual([]);
    }
  });

  it('is a standalone file with a production NODE_ENV', () => {
    const c = compose();
    for (const service of SERVICES)
      expect(c.services[service]?.environment?.NODE_ENV, service).toBe('production');
    expect(readCompose('docker-compose.yml').services.gateway?.environment?.NODE_ENV).toBe(
      'development',
    );
  });
});
