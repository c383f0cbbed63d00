import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import {
  CHART,
  type ConfigSchema,
  containerEnv,
  deploymentsByService,
  ensureDeployTools,
  type K8sObject,
  loadConfigSchemas,
  mainContainer,
  ofKind,
  parseEnv,
  renderChart,
  type Service,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';

/**
 * The chart's highly available stores: Redis through Sentinel or Cluster (ci/sentinel-values.yaml,
 * ci/cluster-values.yaml) and MongoDB replica-set URLs; the built-in stores stay single-node.
 */

let schemas: Record<Service, ConfigSchema>;
let privateKey: string;
beforeAll(async () => {
  await ensureDeployTools();
  schemas = await loadConfigSchemas();
  privateKey = (await generateSigningKey('chart-stores')).privateKeyPem;
}, TOOL_INSTALL_TIMEOUT_MS);

const envOf = (objects: K8sObject[]) =>
  Object.entries(deploymentsByService(objects)).map(
    ([service, d]) => [service as Service, containerEnv(mainContainer(d), objects)] as const,
  );

describe('Redis Sentinel, Redis Cluster and replica-set MongoDB in the chart', () => {
  it('gives every service the Sentinels, the master name and both passwords, and no REDIS_URL', async () => {
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'sentinel-values.yaml')],
      values: { jwt: { privateKey } },
    });
    for (const [service, env] of envOf(objects)) {
      expect(env.REDIS_URL, service).toBeUndefined();
      expect(env.REDIS_SENTINELS, service).toBe(
        'redis-node-0.redis-headless.databases.svc:26379,redis-node-1.redis-headless.databases.svc:26379,redis-node-2.redis-headless.databases.svc:26379',
      );
      expect(env.REDIS_SENTINEL_NAME, service).toBe('mymaster');
      expect(env.REDIS_PASSWORD, service).toBe('change-me');
      expect(env.REDIS_SENTINEL_PASSWORD, service).toBe('change-me-too');
      if (service !== 'gateway') expect(String(env.MONGODB_URL)).toMatch(/replicaSet=rs0/);
      // The whole environment is accepted by the service's config schema.
      expect(parseEnv(schemas[service], env as Record<string, string>), service).toEqual([]);
    }
    const [secret] = ofKind(objects, 'Secret');
    expect(Object.keys(secret?.data ?? {})).not.toContain('redis-url');
    for (const cm of ofKind(objects, 'ConfigMap'))
      expect(JSON.stringify(cm.data)).not.toContain('change-me');
  });

  it('gives every service the Cluster nodes and takes the password from an existing Secret', async () => {
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'cluster-values.yaml')],
    });
    expect(ofKind(objects, 'Secret')).toEqual([]);
    for (const [service, env] of envOf(objects)) {
      expect(env.REDIS_URL, service).toBeUndefined();
      expect(env.REDIS_SENTINELS, service).toBeUndefined();
      expect(env.REDIS_CLUSTER_NODES, service).toBe(
        'redis-cluster-0.redis-cluster-headless.databases.svc:6379,redis-cluster-1.redis-cluster-headless.databases.svc:6379,redis-cluster-2.redis-cluster-headless.databases.svc:6379',
      );
      expect(env.REDIS_PASSWORD, service).toEqual({
        secret: 'journal-secrets',
        key: 'redis-password',
        optional: true,
      });
    }
  });

  it('refuses two Redis deployments at once, naming the settings', async () => {
    const fail = (values: Record<string, unknown>) =>
      renderChart({ values: { jwt: { privateKey }, ...values } }).then(
        () => '',
        (err: { stderr?: string }) => err.stderr ?? String(err),
      );
    const mongo = { externalMongodb: { url: 'mongodb://m:27017/' } };
    expect(
      await fail({
        ...mongo,
        externalRedis: { url: 'redis://r:6379', cluster: { nodes: ['c:6379'] } },
      }),
    ).toContain(
      'set exactly one of externalRedis.url, externalRedis.sentinel.hosts and externalRedis.cluster.nodes',
    );
    expect(
      await fail({
        ...mongo,
        redis: { enabled: true, auth: { password: 'x' } },
        externalRedis: { sentinel: { hosts: ['s:26379'] } },
      }),
    ).toContain('set either externalRedis.sentinel/cluster or redis.enabled, not both');
    // A host:port list entry that is not host:port is refused by values.schema.json.
    expect(
      await fail({ ...mongo, externalRedis: { cluster: { nodes: ['redis://c:6379'] } } }),
    ).toMatch(/nodes/);
  });

  it('keeps the built-in stores single-node', async () => {
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'builtin-values.yaml')],
    });
    const stores = ofKind(objects, 'StatefulSet');
    expect(stores.length).toBe(2);
    for (const s of stores) expect(s.spec.replicas, s.metadata.name).toBe(1);
    for (const [service, env] of envOf(objects)) {
      expect(String(env.REDIS_URL), service).toMatch(/^redis:\/\//);
      expect(env.REDIS_SENTINELS, service).toBeUndefined();
    }
  });
});
