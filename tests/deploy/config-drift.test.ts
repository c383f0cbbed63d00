import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import { ROOT } from '../../scripts/lib/tools.js';
import {
  CHART,
  COMPOSE_DIR,
  type ConfigSchema,
  component,
  composeVariables,
  containerEnv,
  deploymentsByService,
  type ExternalSecretRef,
  ensureDeployTools,
  interpolate,
  type K8sObject,
  loadConfigSchemas,
  mainContainer,
  ofKind,
  parseDotenv,
  parseEnv,
  readCompose,
  renderChart,
  requiredVariables,
  SERVICES,
  type Service,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';

const execFileAsync = promisify(execFile);
let schemas: Record<Service, ConfigSchema>;
let devKeys: Record<string, string>;

beforeAll(async () => {
  await ensureDeployTools();
  schemas = await loadConfigSchemas();
  // The keys a user makes for compose, made the documented way.
  const { stdout } = await execFileAsync('npx', ['tsx', 'scripts/gen-keys.ts'], { cwd: ROOT });
  devKeys = parseDotenv(stdout);
}, TOOL_INSTALL_TIMEOUT_MS);

const CI_FILES = readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml'));

/** Renders whose Secret is the chart's own, so every value can be resolved and parsed. */
async function resolvableRenders() {
  const key = await generateSigningKey('drift-test');
  return [
    {
      name: 'defaults + required externals + JWT_PUBLIC_KEYS',
      values: {
        externalMongodb: { url: 'mongodb://journal:pw@mongo.example:27017/?authSource=admin' },
        externalRedis: { url: 'redis://:pw@redis.example:6379/0' },
        jwt: { privateKey: key.privateKeyPem, keyId: key.kid, publicKeys: key.jwks },
        qiniu: {
          accessKey: 'ak',
          secretKey: 'sk',
          bucketName: 'journal',
          uploadDomain: 'https://upload.qiniup.com',
          downloadDomain: 'cdn.example.com',
          tokenTtlSeconds: 600,
        },
      },
      files: [] as string[],
    },
    {
      name: 'ci/default-values.yaml with a real key',
      values: { jwt: { privateKey: key.privateKeyPem } },
      files: [join(CHART, 'ci', 'default-values.yaml')],
    },
    {
      name: 'ci/builtin-values.yaml',
      values: {},
      files: [join(CHART, 'ci', 'builtin-values.yaml')],
    },
  ];
}

function unknownNames(schema: ConfigSchema, names: string[]): string[] {
  return names.filter((n) => !(n in schema.shape));
}

describe('the Helm chart sets exactly what the services read', () => {
  it('sets only variables the config schemas accept, and every required one, in every ci render', async () => {
    for (const file of CI_FILES) {
      const { objects } = await renderChart({ valuesFiles: [join(CHART, 'ci', file)] });
      for (const [service, d] of Object.entries(deploymentsByService(objects)) as [
        Service,
        K8sObject,
      ][]) {
        const env = containerEnv(mainContainer(d), objects);
        const names = Object.keys(env);
        expect(unknownNames(schemas[service], names), `${file} ${service}`).toEqual([]);
        const missing = requiredVariables(schemas[service]).filter((n) => !names.includes(n));
        expect(missing, `${file} ${service} required`).toEqual([]);
        // Every value the render itself holds (not a Secret of the user's) is a valid value.
        for (const [name, value] of Object.entries(env)) {
          if (typeof value !== 'string' || value === '') continue;
          const field = schemas[service].shape[name];
          expect(field?.safeParse(value).success, `${file} ${service} ${name}=${value}`).toBe(true);
        }
        // The variables whose names differ per service are where they belong.
        const has = (n: string) => names.includes(n);
        expect(has('MONGODB_URL'), service).toBe(service !== 'gateway');
        // auth signs with an ephemeral key only outside production (one replica then).
        if (service === 'auth' && env.NODE_ENV === 'production')
          expect(has('JWT_PRIVATE_KEY'), `${file} auth signing key`).toBe(true);
        expect(has('JWT_PUBLIC_KEYS') || has('JWT_JWKS_URL'), service).toBe(true);
        expect(has('AUTH_URL'), service).toBe(service === 'gateway');
      }
    }
  });

  it('gives each service an environment its whole config schema parses (values resolved from the render)', async () => {
    for (const render of await resolvableRenders()) {
      const { objects } = await renderChart({ valuesFiles: render.files, values: render.values });
      for (const [service, d] of Object.entries(deploymentsByService(objects)) as [
        Service,
        K8sObject,
      ][]) {
        const env = containerEnv(mainContainer(d), objects);
        const external = Object.values(env).filter((v) => typeof v !== 'string');
        expect(external, `${render.name} ${service}`).toEqual([]);
        const problems = parseEnv(schemas[service], env as Record<string, string>);
        expect(problems, `${render.name} ${service}`).toEqual([]);
        // The port the probes and the Service target is the one the process listens on.
        expect(env.PORT, service).toBe(String(mainContainer(d).ports[0].containerPort));
      }
      const attachments = containerEnv(
        mainContainer(deploymentsByService(objects).attachments),
        objects,
      );
      if (render.values.qiniu) {
        expect(attachments.QINIU_SECRET_KEY).toBe('sk');
        expect(attachments.QINIU_TOKEN_TTL_SECONDS).toBe('600');
      }
    }
  });

  it('points the gateway at the in-cluster Services of auth, sync and attachments, and JWT_JWKS_URL at auth', async () => {
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'production-values.yaml')],
    });
    const deployments = deploymentsByService(objects);
    const gateway = containerEnv(mainContainer(deployments.gateway), objects);
    const services = ofKind(objects, 'Service');
    const target = (url: string | ExternalSecretRef | undefined) => {
      const u = new URL(String(url));
      const svc = services.find((s) => s.metadata.name === u.hostname) as K8sObject;
      expect(svc, `Service ${u.hostname}`).toBeTruthy();
      expect(String(svc.spec.ports[0].port)).toBe(u.port);
      return { service: component(svc), path: u.pathname };
    };
    expect(target(gateway.AUTH_URL).service).toBe('auth');
    expect(target(gateway.SYNC_URL).service).toBe('sync');
    expect(target(gateway.ATTACHMENTS_URL).service).toBe('attachments');
    for (const s of SERVICES) {
      const env = containerEnv(mainContainer(deployments[s]), objects);
      expect(target(env.JWT_JWKS_URL)).toEqual({
        service: 'auth',
        path: '/.well-known/jwks.json',
      });
    }
  });

  it('gives the gateway and attachments the same upload limit and the same Redis key prefix', async () => {
    for (const file of CI_FILES) {
      const { objects } = await renderChart({ valuesFiles: [join(CHART, 'ci', file)] });
      const d = deploymentsByService(objects);
      const env = (s: Service) => containerEnv(mainContainer(d[s]), objects);
      expect(env('gateway').ATTACHMENTS_MAX_BYTES, file).toEqual(
        env('attachments').ATTACHMENTS_MAX_BYTES,
      );
      // The gateway reads the sessions auth writes: one key space.
      for (const s of SERVICES)
        expect(env(s).REDIS_KEY_PREFIX, `${file} ${s}`).toEqual(env('auth').REDIS_KEY_PREFIX);
    }
    const production = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'production-values.yaml')],
    });
    const gateway = containerEnv(
      mainContainer(deploymentsByService(production.objects).gateway),
      production.objects,
    );
    // Helm reads YAML numbers as floats: large ones must still reach the env as integers.
    expect(gateway.ATTACHMENTS_MAX_BYTES).toBe('209715200');
    expect(gateway.RATE_LIMIT_MAX).toBe('2000000');
    for (const file of ['docker-compose.yml', 'docker-compose.prod.yml']) {
      const compose = readCompose(file);
      expect(compose.services.gateway?.environment?.ATTACHMENTS_MAX_BYTES, file).toEqual(
        compose.services.attachments?.environment?.ATTACHMENTS_MAX_BYTES,
      );
    }
  });

  it('refers to one Secret for every secret variable and never puts a secret in a ConfigMap', async () => {
    const [render] = await resolvableRenders();
    const { objects } = await renderChart({ values: render?.values });
    const secretNames = /(SECRET|PASSWORD|PRIVATE_KEY|TOKEN|_KEY)$|^(MONGODB_URL|REDIS_URL)$/;
    for (const cm of ofKind(objects, 'ConfigMap'))
      for (const key of Object.keys(cm.data ?? {}))
        expect(secretNames.test(key) && key !== 'JWT_KEY_ID', `ConfigMap key ${key}`).toBe(false);
    for (const d of Object.values(deploymentsByService(objects)))
      for (const e of mainContainer(d).env as {
        name: string;
        value?: string;
        valueFrom?: { secretKeyRef?: unknown };
      }[])
        if (secretNames.test(e.name) && e.name !== 'JWT_KEY_ID')
          expect(e.valueFrom?.secretKeyRef, `${e.name} comes from a Secret`).toBeTruthy();
  });
});

describe('the compose files set exactly what the services read', () => {
  const sampleEnv = () => ({
    ...parseDotenv(readFileSync(join(COMPOSE_DIR, '.env.example'), 'utf8')),
    ...devKeys,
    MONGO_ROOT_PASSWORD: 'mongo-password',
    REDIS_PASSWORD: 'redis-password',
  });

  for (const file of ['docker-compose.yml', 'docker-compose.prod.yml']) {
    it(`${file}: every service's environment is accepted whole by its config schema`, () => {
      const compose = readCompose(file);
      for (const service of SERVICES) {
        const raw = compose.services[service]?.environment ?? {};
        expect(unknownNames(schemas[service], Object.keys(raw)), `${file} ${service}`).toEqual([]);
        const env = Object.fromEntries(
          Object.entries(raw).map(([k, v]) => [k, interpolate(String(v ?? ''), sampleEnv())]),
        );
        expect(parseEnv(schemas[service], env), `${file} ${service}`).toEqual([]);
        // Without the generated keys, compose stops with the how-to instead of starting.
        const noKeys = { ...sampleEnv(), JWT_PUBLIC_KEYS: '' };
        expect(() => Object.values(raw).map((v) => interpolate(String(v ?? ''), noKeys))).toThrow(
          /JWT_PUBLIC_KEYS/,
        );
      }
    });
  }

  it('.env.example names every variable docker-compose.prod.yml interpolates', () => {
    const example = parseDotenv(readFileSync(join(COMPOSE_DIR, '.env.example'), 'utf8'));
    const used = composeVariables('docker-compose.prod.yml');
    expect([...used.keys()].filter((v) => !(v in example))).toEqual([]);
    for (const required of ['MONGO_ROOT_PASSWORD', 'REDIS_PASSWORD', 'JWT_PRIVATE_KEY'])
      expect(used.get(required)?.required, required).toBe(true);
  });

  it('scripts/gen-keys.ts prints keys the auth schema accepts, for compose and for the chart', async () => {
    expect(Object.keys(devKeys).sort()).toEqual([
      'JWT_KEY_ID',
      'JWT_PRIVATE_KEY',
      'JWT_PUBLIC_KEYS',
    ]);
    for (const name of Object.keys(devKeys))
      expect(schemas.auth.shape[name]?.safeParse(devKeys[name]).success, name).toBe(true);
    const jwks = JSON.parse(devKeys.JWT_PUBLIC_KEYS as string) as {
      keys: { kid: string; d?: string }[];
    };
    expect(jwks.keys[0]?.kid).toBe(devKeys.JWT_KEY_ID);
    expect(jwks.keys[0]?.d).toBeUndefined();
    const { stdout } = await execFileAsync(
      'npx',
      [
        'tsx',
        'scripts/gen-keys.ts',
        '--helm',
        '--kid',
        'next',
        '--keep-public',
        devKeys.JWT_PUBLIC_KEYS as string,
      ],
      { cwd: ROOT },
    );
    const { objects } = await renderChart({
      values: {
        externalMongodb: { url: 'mongodb://m:27017' },
        externalRedis: { url: 'redis://r:6379' },
      },
      set: [],
      valuesFiles: [await writeTemp(stdout)],
    });
    const auth = containerEnv(mainContainer(deploymentsByService(objects).auth), objects);
    expect(parseEnv(schemas.auth, auth as Record<string, string>)).toEqual([]);
    const rotated = JSON.parse(String(auth.JWT_PUBLIC_KEYS)) as { keys: { kid: string }[] };
    expect(rotated.keys.map((k) => k.kid)).toEqual(['next', devKeys.JWT_KEY_ID]);
  });
});

async function writeTemp(text: string): Promise<string> {
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'journal-genkeys-'));
  const file = join(dir, 'values.yaml');
  await writeFile(file, text);
  return file;
}
