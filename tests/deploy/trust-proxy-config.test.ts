import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import {
  containerEnv,
  deploymentsByService,
  ensureDeployTools,
  interpolate,
  mainContainer,
  readCompose,
  renderChart,
  SERVICES,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';

/**
 * Issue 15: each deployment trusts exactly the proxies in front of it. Chart: ingress ->
 * gateway -> service; compose prod: nginx -> gateway -> service; compose dev: gateway published
 * directly. No default address ranges anywhere.
 */
let required: Record<string, unknown>;
beforeAll(async () => {
  await ensureDeployTools();
  const key = await generateSigningKey('trust-test');
  required = {
    externalMongodb: { url: 'mongodb://journal:secret@mongo.example:27017/?authSource=admin' },
    externalRedis: { url: 'redis://:secret@redis.example:6379/0' },
    jwt: { privateKey: key.privateKeyPem, keyId: key.kid },
  };
}, TOOL_INSTALL_TIMEOUT_MS);

async function chartEnv(values: Record<string, unknown>) {
  const { objects } = await renderChart({ values: { ...required, ...values } });
  const deployments = deploymentsByService(objects);
  return Object.fromEntries(
    SERVICES.map((s) => [s, containerEnv(mainContainer(deployments[s]), objects)]),
  ) as Record<(typeof SERVICES)[number], Record<string, unknown>>;
}

describe('trusted proxies in the chart', () => {
  it('services trust one hop (the gateway); the gateway trusts the ingress only when it is on', async () => {
    const plain = await chartEnv({});
    const ingress = await chartEnv({ gateway: { ingress: { enabled: true } } });
    for (const s of ['auth', 'sync', 'attachments'] as const) {
      expect(plain[s].TRUST_PROXY_HOPS, s).toBe('1');
      expect(ingress[s].TRUST_PROXY_HOPS, s).toBe('1');
    }
    expect(plain.gateway.TRUST_PROXY_HOPS).toBe('0');
    expect(ingress.gateway.TRUST_PROXY_HOPS).toBe('1');
    const overridden = await chartEnv({ gateway: { trustProxyHops: 2 } });
    expect(overridden.gateway.TRUST_PROXY_HOPS).toBe('2');
    for (const s of SERVICES) expect(plain[s].TRUST_PROXY, s).toBeUndefined();
  });

  it('gives every service the access-token lifetime it bounds tokens by', async () => {
    const env = await chartEnv({ jwt: { ...(required.jwt as object), accessTtlSeconds: 900 } });
    for (const s of SERVICES) expect(env[s].JWT_ACCESS_TTL_SECONDS, s).toBe('900');
  });
});

describe('trusted proxies in the compose files', () => {
  it('prod: nginx -> gateway -> services, one hop each, no address ranges', () => {
    const c = readCompose('docker-compose.prod.yml');
    for (const s of SERVICES) {
      const env = c.services[s]?.environment ?? {};
      expect(interpolate(String(env.TRUST_PROXY_HOPS), {}), s).toBe('1');
      expect(env.TRUST_PROXY, s).toBeUndefined();
    }
    // Only nginx is published: nobody reaches the gateway around it.
    expect(c.services.gateway?.ports).toBeUndefined();
  });

  it('dev: the published gateway trusts no proxy, the services trust the gateway', () => {
    const c = readCompose('docker-compose.yml');
    expect(c.services.gateway?.environment?.TRUST_PROXY_HOPS).toBe('0');
    for (const s of ['auth', 'sync', 'attachments']) {
      expect(c.services[s]?.environment?.TRUST_PROXY_HOPS, s).toBe('1');
    }
  });
});
