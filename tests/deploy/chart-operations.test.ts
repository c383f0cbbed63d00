import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import { ROOT } from '../../scripts/lib/tools.js';
import {
  CHART,
  component,
  containerEnv,
  deploymentsByService,
  ensureDeployTools,
  helm,
  type K8sObject,
  KUBE_VERSIONS,
  mainContainer,
  ofKind,
  renderChart,
  SERVICE_MONITOR_API,
  SERVICES,
  TOOL_INSTALL_TIMEOUT_MS,
  writeValues,
} from './lib.js';

const PRODUCTION = join(CHART, 'ci', 'production-values.yaml');
const NAMESPACE = 'journal';
let minimalValues: string;

beforeAll(async () => {
  await ensureDeployTools();
  const key = await generateSigningKey('chart-ops-test');
  minimalValues = await writeValues({
    externalMongodb: { url: 'mongodb://m.example:27017' },
    externalRedis: { url: 'redis://r.example:6379' },
    jwt: { privateKey: key.privateKeyPem },
  });
}, TOOL_INSTALL_TIMEOUT_MS);

// ---------------------------------------------------------------------------------------------
// NetworkPolicy semantics (the parts this chart uses), to ask "may this peer reach that port?"

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Pod {
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
}
interface PolicyPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}
interface PolicyRule {
  ports?: { port?: string | number; protocol?: string }[];
  from?: PolicyPeer[];
}

function selects(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const value = labels[e.key] as string;
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(value)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(value)
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

function peerMatches(peer: PolicyPeer, policyNamespace: string, from: Pod): boolean {
  if (peer.ipBlock) return false;
  const namespaceOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, from.namespaceLabels)
    : from.namespace === policyNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, from.labels) : true;
  return namespaceOk && podOk;
}

/**
 * Whether `from` may open a TCP connection to container port `port` (name and number) of `to`,
 * under every NetworkPolicy of the render (pods no policy selects accept everything).
 */
function admits(
  policies: K8sObject[],
  to: Pod,
  port: { name: string; number: number },
  from: Pod,
): boolean {
  const applying = policies.filter(
    (p) =>
      (p.metadata.namespace ?? NAMESPACE) === to.namespace &&
      selects(p.spec.podSelector, to.labels) &&
      (p.spec.policyTypes ?? ['Ingress']).includes('Ingress'),
  );
  if (applying.length === 0) return true;
  return applying.some((policy) =>
    ((policy.spec.ingress ?? []) as PolicyRule[]).some((rule) => {
      const portOk =
        !rule.ports?.length ||
        rule.ports.some(
          (p) =>
            (p.protocol ?? 'TCP') === 'TCP' &&
            (p.port === undefined || p.port === port.name || p.port === port.number),
        );
      const peerOk =
        !rule.from?.length ||
        rule.from.some((peer) => peerMatches(peer, policy.metadata.namespace ?? NAMESPACE, from));
      return portOk && peerOk;
    }),
  );
}

/** The pods a ServiceMonitor scrapes, with the container port of each endpoint. */
function scrapeTargets(objects: K8sObject[]) {
  const targets: {
    monitor: string;
    workload: K8sObject;
    port: { name: string; number: number };
  }[] = [];
  const workloads = [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'StatefulSet')];
  for (const monitor of ofKind(objects, 'ServiceMonitor')) {
    const namespaces: string[] = monitor.spec.namespaceSelector?.matchNames ?? [
      monitor.metadata.namespace,
    ];
    const services = ofKind(objects, 'Service').filter(
      (s) =>
        namespaces.includes(s.metadata.namespace ?? NAMESPACE) &&
        selects(monitor.spec.selector, s.metadata.labels ?? {}),
    );
    expect(services.length, monitor.metadata.name).toBeGreaterThan(0);
    for (const service of services)
      for (const endpoint of monitor.spec.endpoints as { port: string }[]) {
        const servicePort = service.spec.ports.find(
          (p: { name: string }) => p.name === endpoint.port,
        );
        expect(servicePort, `${service.metadata.name} has port ${endpoint.port}`).toBeTruthy();
        const pods = workloads.filter((w) =>
          Object.entries(service.spec.selector as Record<string, string>).every(
            ([k, v]) => w.spec.template.metadata.labels[k] === v,
          ),
        );
        expect(pods.length, `${service.metadata.name} selects a workload`).toBeGreaterThan(0);
        for (const workload of pods) {
          const container = workload.spec.template.spec.containers[0];
          const containerPort = container.ports.find(
            (p: { name: string; containerPort: number }) =>
              typeof servicePort.targetPort === 'string'
                ? p.name === servicePort.targetPort
                : p.containerPort === servicePort.targetPort,
          );
          expect(containerPort, `${workload.metadata.name} target port`).toBeTruthy();
          targets.push({
            monitor: monitor.metadata.name,
            workload,
            port: { name: containerPort.name, number: containerPort.containerPort },
          });
        }
      }
  }
  return targets;
}

const podOf = (workload: K8sObject): Pod => ({
  namespace: workload.metadata.namespace ?? NAMESPACE,
  namespaceLabels: { 'kubernetes.io/metadata.name': workload.metadata.namespace ?? NAMESPACE },
  labels: workload.spec.template.metadata.labels,
});
const podIn = (namespace: string, labels: Record<string, string>): Pod => ({
  namespace,
  namespaceLabels: { 'kubernetes.io/metadata.name': namespace },
  labels,
});

// ---------------------------------------------------------------------------------------------

describe('metrics port, ServiceMonitor and NetworkPolicies (ci/production-values.yaml)', () => {
  it('admits the scraper on the metrics port of every pod a ServiceMonitor scrapes', async () => {
    const values = parseYaml(readFileSync(PRODUCTION, 'utf8')) as {
      networkPolicy: { gatewayFrom: unknown[]; metrics: { namespaceSelector: Selector } };
    };
    // The fault this holds: gatewayFrom set restricted the gateway and locked Prometheus out.
    expect(values.networkPolicy.gatewayFrom.length).toBeGreaterThan(0);
    const { objects } = await renderChart({
      valuesFiles: [PRODUCTION],
      apiVersions: [SERVICE_MONITOR_API],
    });
    const policies = ofKind(objects, 'NetworkPolicy');
    expect(policies.length).toBeGreaterThanOrEqual(4);
    const targets = scrapeTargets(objects);
    expect(targets.map((t) => component(t.workload)).sort()).toEqual([...SERVICES].sort());
    // kube-prometheus-stack's Prometheus, in the namespace the values name.
    const monitoringNamespace = values.networkPolicy.metrics.namespaceSelector.matchLabels?.[
      'kubernetes.io/metadata.name'
    ] as string;
    const prometheus = podIn(monitoringNamespace, { 'app.kubernetes.io/name': 'prometheus' });
    const ingressController = podIn('ingress-nginx', { 'app.kubernetes.io/name': 'ingress-nginx' });
    const stranger = podIn(NAMESPACE, { app: 'something-else' });
    const elsewhere = podIn('default', { 'app.kubernetes.io/name': 'prometheus' });
    for (const { workload, port } of targets) {
      const to = podOf(workload);
      const where = `${component(workload)} :${port.name}`;
      expect(port.name, where).toBe('metrics');
      expect(admits(policies, to, port, prometheus), `${where} from Prometheus`).toBe(true);
      // Nobody else reaches the metrics port: not the ingress controller, not a stranger pod,
      // not a Prometheus-looking pod in another namespace.
      expect(admits(policies, to, port, ingressController), `${where} from ingress`).toBe(false);
      expect(admits(policies, to, port, stranger), `${where} from a stranger`).toBe(false);
      expect(admits(policies, to, port, elsewhere), `${where} from another namespace`).toBe(false);
      // The process listens there: METRICS_PORT is the container port named `metrics`.
      const env = containerEnv(mainContainer(workload), objects);
      expect(env.METRICS_PORT, where).toBe(String(port.number));
      expect(env.PORT, where).not.toBe(env.METRICS_PORT);
    }
    // The gateway's public port: the ingress controller yes, Prometheus no (it scrapes metrics).
    const gateway = deploymentsByService(objects).gateway;
    const http = mainContainer(gateway).ports.find((p: { name: string }) => p.name === 'http');
    const httpPort = { name: 'http', number: http.containerPort };
    expect(admits(policies, podOf(gateway), httpPort, ingressController)).toBe(true);
    expect(admits(policies, podOf(gateway), httpPort, stranger)).toBe(false);
  });

  it('the check itself catches a policy that leaves the scraper out', async () => {
    const { objects } = await renderChart({
      valuesFiles: [PRODUCTION],
      apiVersions: [SERVICE_MONITOR_API],
    });
    const policies = ofKind(objects, 'NetworkPolicy').map((p) => structuredClone(p));
    const gatewayPolicy = policies.find((p) => component(p) === 'gateway') as K8sObject;
    gatewayPolicy.spec.ingress = gatewayPolicy.spec.ingress.filter(
      (r: PolicyRule) => !r.ports?.some((p) => p.port === 'metrics'),
    );
    const target = scrapeTargets(objects).find((t) => component(t.workload) === 'gateway');
    const prometheus = podIn('monitoring', { 'app.kubernetes.io/name': 'prometheus' });
    expect(target).toBeTruthy();
    if (target)
      expect(admits(policies, podOf(target.workload), target.port, prometheus)).toBe(false);
  });

  it('names the metrics port in every container and Service; the Ingress never routes it', async () => {
    const { objects } = await renderChart({ valuesFiles: [PRODUCTION] });
    const deployments = deploymentsByService(objects);
    for (const service of SERVICES) {
      const ports = mainContainer(deployments[service]).ports as {
        name: string;
        containerPort: number;
      }[];
      expect(ports.map((p) => p.name)).toEqual(['http', 'metrics']);
      const svc = ofKind(objects, 'Service').find((s) => component(s) === service) as K8sObject;
      expect(svc.spec.ports.map((p: { name: string }) => p.name)).toEqual(['http', 'metrics']);
      expect(svc.spec.ports[1].targetPort).toBe('metrics');
      // Probes stay on the public port (where /health and /ready are).
      expect(mainContainer(deployments[service]).readinessProbe.httpGet.port).toBe('http');
    }
    for (const ingress of ofKind(objects, 'Ingress'))
      for (const rule of ingress.spec.rules)
        for (const path of rule.http.paths)
          expect(path.backend.service.port).toEqual({ name: 'http' });
    // Default metrics ports are each public port + 1000, as the services default.
    const defaults = await renderChart({ valuesFiles: [minimalValues] });
    for (const [service, d] of Object.entries(deploymentsByService(defaults.objects))) {
      const env = containerEnv(mainContainer(d), defaults.objects);
      expect(Number(env.METRICS_PORT), service).toBe(Number(env.PORT) + 1000);
    }
  });

  it('renders the ServiceMonitor only where its CRD exists, and only when enabled', async () => {
    const without = await renderChart({ valuesFiles: [PRODUCTION] });
    expect(ofKind(without.objects, 'ServiceMonitor')).toHaveLength(0);
    const withCrd = await renderChart({
      valuesFiles: [PRODUCTION],
      apiVersions: [SERVICE_MONITOR_API],
    });
    const [monitor] = ofKind(withCrd.objects, 'ServiceMonitor');
    expect(monitor?.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor?.metadata.labels?.release).toBe('kube-prometheus-stack');
    expect(monitor?.spec.endpoints).toEqual([
      expect.objectContaining({ port: 'metrics', path: '/metrics' }),
    ]);
    // On by default where the CRD is; off when asked.
    const defaults = await renderChart({
      valuesFiles: [minimalValues],
      apiVersions: [SERVICE_MONITOR_API],
    });
    expect(ofKind(defaults.objects, 'ServiceMonitor')).toHaveLength(1);
    const off = await renderChart({
      valuesFiles: [minimalValues],
      apiVersions: [SERVICE_MONITOR_API],
      set: ['metrics.serviceMonitor.enabled=false'],
    });
    expect(ofKind(off.objects, 'ServiceMonitor')).toHaveLength(0);
  });
});

describe('PodDisruptionBudgets', () => {
  it('let pods that are not ready be evicted (unhealthyPodEvictionPolicy: AlwaysAllow) where Kubernetes has it', async () => {
    const { objects } = await renderChart({ valuesFiles: [PRODUCTION], kubeVersion: '1.33.0' });
    const pdbs = ofKind(objects, 'PodDisruptionBudget');
    expect(pdbs.map(component).sort()).toEqual([...SERVICES].sort());
    for (const pdb of pdbs)
      expect(pdb.spec.unhealthyPodEvictionPolicy, component(pdb)).toBe('AlwaysAllow');
    // Kubernetes 1.25 has no such field: left out rather than rejected by the API server.
    const old = await renderChart({ valuesFiles: [PRODUCTION], kubeVersion: KUBE_VERSIONS[0] });
    for (const pdb of ofKind(old.objects, 'PodDisruptionBudget'))
      expect(pdb.spec.unhealthyPodEvictionPolicy, component(pdb)).toBeUndefined();
  });
});

describe('images', () => {
  it('default to the published ghcr.io/<owner>/journal-<service>:<appVersion>', async () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as {
      appVersion: string;
    };
    const { objects } = await renderChart({ valuesFiles: [minimalValues] });
    for (const [service, d] of Object.entries(deploymentsByService(objects)))
      expect(mainContainer(d).image, service).toBe(
        `ghcr.io/journal/journal-${service}:${chart.appVersion}`,
      );
    const mine = await renderChart({
      valuesFiles: [minimalValues],
      set: ['image.owner=acme', 'image.tag=1.2.3', `sync.image.digest=sha256:${'a'.repeat(64)}`],
    });
    const d = deploymentsByService(mine.objects);
    expect(mainContainer(d.gateway).image).toBe('ghcr.io/acme/journal-gateway:1.2.3');
    expect(mainContainer(d.sync).image).toBe(`ghcr.io/acme/journal-sync@sha256:${'a'.repeat(64)}`);
    // A mirror replaces the registry only.
    const production = await renderChart({ valuesFiles: [PRODUCTION] });
    expect(mainContainer(deploymentsByService(production.objects).gateway).image).toBe(
      'registry.example.com/journal/journal-gateway:0.1.0',
    );
  });

  it('are the ones the release workflow publishes', () => {
    const release = readFileSync(join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8');
    expect(release).toContain('ghcr.io');
    expect(release).toMatch(/journal-\$\{\{ matrix\.service \}\}/);
  });
});

describe('global values from umbrella charts', () => {
  it('accepts global keys it does not use, global.storageClass, and pull secrets as names or objects', async () => {
    const values = {
      global: {
        storageClass: 'fast-ssd',
        imageRegistry: 'mirror.example.com',
        imagePullSecrets: ['one', { name: 'two' }],
        security: { allowInsecureImages: true },
        postgresql: { auth: { username: 'x' } },
      },
      mongodb: { enabled: true, auth: { rootPassword: 'pw' } },
      redis: { enabled: true, auth: { password: 'pw' } },
      jwt: { privateKey: (await generateSigningKey('global')).privateKeyPem },
    };
    const file = await writeValues(values);
    const { stdout } = await helm(['lint', '--strict', CHART, '-f', file]);
    expect(stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const { objects } = await renderChart({ valuesFiles: [file] });
    for (const set of ofKind(objects, 'StatefulSet'))
      expect(set.spec.volumeClaimTemplates[0].spec.storageClassName, component(set)).toBe(
        'fast-ssd',
      );
    const gateway = deploymentsByService(objects).gateway;
    expect(gateway.spec.template.spec.imagePullSecrets).toEqual([{ name: 'one' }, { name: 'two' }]);
    expect(mainContainer(gateway).image).toMatch(
      /^mirror\.example\.com\/journal\/journal-gateway:/,
    );
    // Typed keys keep their types.
    const bad = await renderChart({
      valuesFiles: [minimalValues],
      set: ['global.imageRegistry=null', 'global.storageClass[0]=x'],
    }).then(
      () => '',
      (err: { stderr?: string }) => err.stderr ?? String(err),
    );
    expect(bad).toMatch(/storageClass/);
  });
});

describe('Qiniu download base URL', () => {
  it('sets QINIU_DOWNLOAD_BASE_URL from qiniu.downloadBaseUrl, or from the older qiniu.downloadDomain', async () => {
    for (const [qiniu, expected] of [
      [{ downloadBaseUrl: 'https://cdn.example.com/files' }, 'https://cdn.example.com/files'],
      [{ downloadDomain: 'old.example.com' }, 'old.example.com'],
      [
        { downloadBaseUrl: 'new.example.com', downloadDomain: 'old.example.com' },
        'new.example.com',
      ],
    ] as const) {
      const { objects } = await renderChart({ valuesFiles: [minimalValues], values: { qiniu } });
      const env = containerEnv(mainContainer(deploymentsByService(objects).attachments), objects);
      expect(env.QINIU_DOWNLOAD_BASE_URL, JSON.stringify(qiniu)).toBe(expected);
      expect(env.QINIU_DOWNLOAD_DOMAIN).toBeUndefined();
    }
    const none = await renderChart({ valuesFiles: [minimalValues] });
    const env = containerEnv(
      mainContainer(deploymentsByService(none.objects).attachments),
      none.objects,
    );
    expect(env.QINIU_DOWNLOAD_BASE_URL).toBeUndefined();
  });
});
