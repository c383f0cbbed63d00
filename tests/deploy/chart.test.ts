import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import { ensureKubernetesValidate } from '../../scripts/lib/tools.js';
import {
  CHART,
  component,
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

const execFileAsync = promisify(execFile);
const CI_FILES = readdirSync(join(CHART, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .map((f) => join(CHART, 'ci', f));

/** The least a user must set: where MongoDB and Redis are, and the signing key. */
async function requiredExternals() {
  const key = await generateSigningKey('chart-test');
  return {
    externalMongodb: { url: 'mongodb://journal:secret@mongo.example:27017/?authSource=admin' },
    externalRedis: { url: 'redis://:secret@redis.example:6379/0' },
    jwt: { privateKey: key.privateKeyPem, keyId: key.kid },
  };
}

let minimalValues: string;
beforeAll(async () => {
  await ensureDeployTools();
  minimalValues = await writeValues(await requiredExternals());
}, TOOL_INSTALL_TIMEOUT_MS);

/** Each values set CI renders: defaults plus the required externals, and every ci/ file. */
function valueSets(): { name: string; files: string[] }[] {
  return [
    { name: 'defaults + required externals', files: [minimalValues] },
    ...CI_FILES.map((f) => ({ name: f.slice(CHART.length + 1), files: [f] })),
  ];
}

describe('helm chart', () => {
  it('passes helm lint --strict with the defaults and with every ci/*-values.yaml', async () => {
    expect(CI_FILES.length).toBeGreaterThanOrEqual(2);
    for (const set of valueSets()) {
      const args = ['lint', '--strict', CHART, ...set.files.flatMap((f) => ['-f', f])];
      const { stdout } = await helm(args).catch((err: { stdout?: string; stderr?: string }) => {
        throw new Error(`helm lint failed for ${set.name}:\n${err.stdout}\n${err.stderr}`);
      });
      expect(stdout, set.name).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('refuses to render without MongoDB, Redis and a signing key, naming each setting', async () => {
    const failure = await renderChart().then(
      () => '',
      (err: { stderr?: string }) => err.stderr ?? String(err),
    );
    expect(failure).toContain('externalMongodb.url');
    expect(failure).toContain('mongodb.enabled');
    expect(failure).toContain('externalRedis.url');
    expect(failure).toContain('redis.enabled');
    expect(failure).toContain('jwt.privateKey');
    expect(failure).toContain('existingSecret');
  });

  it('refuses values the schema does not allow', async () => {
    const failure = await renderChart({
      valuesFiles: [minimalValues],
      set: ['gateway.replicaCount=-1', 'sync.unknownSetting=1'],
    }).then(
      () => '',
      (err: { stderr?: string }) => err.stderr ?? String(err),
    );
    expect(failure).toMatch(/replicaCount/);
    expect(failure).toMatch(/unknownSetting|additional propert/i);
  });

  it('renders objects that validate against the Kubernetes JSON schemas (offline, strict)', async () => {
    const validator = await ensureKubernetesValidate();
    const dir = await mkdtemp(join(tmpdir(), 'journal-render-'));
    for (const kubeVersion of KUBE_VERSIONS) {
      const files: string[] = [];
      let objectCount = 0;
      let crdCount = 0;
      for (const [i, set] of valueSets().entries()) {
        // As on a cluster with prometheus-operator, so the ServiceMonitor is rendered too.
        const { text, objects } = await renderChart({
          valuesFiles: set.files,
          kubeVersion,
          apiVersions: [SERVICE_MONITOR_API],
        });
        objectCount += objects.length;
        for (const o of objects) {
          if (o.apiVersion === 'monitoring.coreos.com/v1') {
            crdCount++;
            checkServiceMonitor(o);
          }
        }
        const file = join(dir, `render-${kubeVersion}-${i}.yaml`);
        await writeFile(file, text);
        files.push(file);
      }
      const { stdout } = await execFileAsync(validator, ['--strict', '-k', kubeVersion, ...files], {
        maxBuffer: 64 * 1024 * 1024,
      }).catch((err: { stdout?: string }) => {
        throw new Error(`kubernetes-validate ${kubeVersion}:\n${err.stdout}`);
      });
      const passed = stdout.split('\n').filter((l) => l.startsWith('INFO') && / passed /.test(l));
      const problems = stdout
        .split('\n')
        .filter((l) => /^(ERROR|FATAL|WARN)/.test(l))
        .filter((l) => !/kind ServiceMonitor with api version monitoring\.coreos\.com\/v1/.test(l));
      expect(problems, kubeVersion).toEqual([]);
      // Every object was checked against a schema, except the prometheus-operator CRD.
      expect(passed.length, kubeVersion).toBe(objectCount - crdCount);
      expect(crdCount, kubeVersion).toBeGreaterThan(0);
      expect(objectCount).toBeGreaterThan(60);
    }
  }, 120_000); // every ci file, twice (two Kubernetes versions), on a shared machine

  it('the offline validator rejects a manifest with an unknown field or a wrong type', async () => {
    const validator = await ensureKubernetesValidate();
    const { objects } = await renderChart({ valuesFiles: [minimalValues] });
    const deployment = structuredClone(deploymentsByService(objects).gateway);
    deployment.spec.template.spec.bogusField = true;
    mainContainer(deployment).ports[0].containerPort = 'eight thousand';
    const dir = await mkdtemp(join(tmpdir(), 'journal-bad-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, JSON.stringify(deployment));
    const result = await execFileAsync(validator, ['--strict', '-k', KUBE_VERSIONS[1], file]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout).toMatch(/ERROR .* did not validate/);
  });

  it('runs every service non-root on a read-only root filesystem without a service-account token', async () => {
    for (const set of valueSets()) {
      const { objects } = await renderChart({ valuesFiles: set.files });
      const pods = [
        ...ofKind(objects, 'Deployment'),
        ...ofKind(objects, 'StatefulSet'),
        ...ofKind(objects, 'Pod'),
      ];
      for (const workload of pods) {
        const spec = workload.kind === 'Pod' ? workload.spec : workload.spec.template.spec;
        const where = `${set.name}: ${workload.kind} ${workload.metadata.name}`;
        expect(spec.automountServiceAccountToken, where).toBe(false);
        expect(spec.securityContext.runAsNonRoot, where).toBe(true);
        expect(spec.securityContext.seccompProfile, where).toEqual({ type: 'RuntimeDefault' });
        for (const c of spec.containers) {
          expect(c.securityContext.allowPrivilegeEscalation, where).toBe(false);
          expect(c.securityContext.readOnlyRootFilesystem, where).toBe(true);
          expect(c.securityContext.capabilities.drop, where).toEqual(['ALL']);
          expect(c.resources?.limits?.memory, where).toBeTruthy();
        }
      }
      for (const [service, d] of Object.entries(deploymentsByService(objects))) {
        const spec = d.spec.template.spec;
        const c = mainContainer(d);
        expect(spec.securityContext.runAsUser, service).toBe(10001);
        expect(c.securityContext.runAsUser, service).toBe(10001);
        const tmp = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
        expect(tmp, `${service} mounts /tmp`).toBeTruthy();
        const volume = spec.volumes.find((v: { name: string }) => v.name === tmp.name);
        expect(volume.emptyDir, `${service} /tmp is an emptyDir`).toBeTruthy();
        expect(c.resources.requests.cpu, service).toBeTruthy();
        expect(c.image, service).toMatch(new RegExp(`journal-${service}[:@]`));
      }
    }
  });

  it('probes liveness on /health, readiness on /ready and start-up on /health, each switchable', async () => {
    const { objects } = await renderChart({ valuesFiles: [minimalValues] });
    for (const [service, d] of Object.entries(deploymentsByService(objects))) {
      const c = mainContainer(d);
      expect(c.livenessProbe.httpGet, service).toEqual({ path: '/health', port: 'http' });
      expect(c.readinessProbe.httpGet, service).toEqual({ path: '/ready', port: 'http' });
      expect(c.startupProbe.httpGet, service).toEqual({ path: '/health', port: 'http' });
    }
    const off = await renderChart({
      valuesFiles: [minimalValues],
      set: [
        'sync.livenessProbe.enabled=false',
        'sync.startupProbe.enabled=false',
        'sync.readinessProbe.periodSeconds=17',
      ],
    });
    const sync = mainContainer(deploymentsByService(off.objects).sync);
    expect(sync.livenessProbe).toBeUndefined();
    expect(sync.startupProbe).toBeUndefined();
    expect(sync.readinessProbe.periodSeconds).toBe(17);
  });

  it('gives each service a Service, a PodDisruptionBudget, a NetworkPolicy, and an HPA when autoscaling', async () => {
    const defaults = await renderChart({ valuesFiles: [minimalValues] });
    const production = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'production-values.yaml')],
    });
    for (const service of SERVICES) {
      const of = (objects: K8sObject[], kind: string) =>
        ofKind(objects, kind).filter((o) => component(o) === service);
      for (const kind of ['Service', 'PodDisruptionBudget', 'NetworkPolicy'])
        expect(of(defaults.objects, kind), `${service} ${kind}`).toHaveLength(1);
      expect(of(defaults.objects, 'HorizontalPodAutoscaler'), service).toHaveLength(0);
      const hpa = of(production.objects, 'HorizontalPodAutoscaler');
      expect(hpa, service).toHaveLength(service === 'attachments' ? 0 : 1);
      const deployment = deploymentsByService(production.objects)[service];
      if (hpa[0]) {
        expect(hpa[0].spec.scaleTargetRef.name).toBe(deployment.metadata.name);
        // The HPA owns the replica count: a Deployment that set it would fight it on upgrade.
        expect(deployment.spec.replicas, service).toBeUndefined();
      } else expect(deployment.spec.replicas, service).toBeGreaterThan(0);
      // The Service selects exactly this Deployment's pods, on the port the container listens on.
      const svc = of(defaults.objects, 'Service')[0] as K8sObject;
      const pod = deploymentsByService(defaults.objects)[service].spec.template;
      for (const [k, v] of Object.entries(svc.spec.selector))
        expect(pod.metadata.labels[k], `${service} selector ${k}`).toBe(v);
      expect(svc.spec.ports[0].targetPort).toBe('http');
      expect(pod.spec.containers[0].ports[0].name).toBe('http');
    }
  });

  it('lets only the gateway be reached from outside, the services only from the gateway, and every metrics port only from Prometheus', async () => {
    const { objects } = await renderChart({ valuesFiles: [minimalValues] });
    const policies = ofKind(objects, 'NetworkPolicy');
    const deployments = deploymentsByService(objects);
    const podsOf = (selector: { matchLabels: Record<string, string> }) =>
      SERVICES.filter((s) =>
        Object.entries(selector.matchLabels).every(
          ([k, v]) => deployments[s].spec.template.metadata.labels[k] === v,
        ),
      );
    for (const service of SERVICES) {
      const policy = policies.find((p) => component(p) === service) as K8sObject;
      expect(podsOf(policy.spec.podSelector)).toEqual([service]);
      expect(policy.spec.policyTypes).toEqual(['Ingress']);
      // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field
      const rules = policy.spec.ingress as { ports: { port: string }[]; from?: any[] }[];
      const onPort = (port: string) => rules.filter((r) => r.ports.some((p) => p.port === port));
      // Only the scraper reaches the metrics port, of the gateway too.
      const scrape = onPort('metrics');
      expect(scrape, `${service} metrics rule`).toHaveLength(1);
      expect(scrape[0]?.ports, service).toEqual([{ port: 'metrics', protocol: 'TCP' }]);
      expect(scrape[0]?.from, service).toEqual([
        {
          namespaceSelector: {},
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
        },
      ]);
      const annotations = deployments[service].spec.template.metadata.annotations;
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/path']).toBe('/metrics');
      expect(annotations['prometheus.io/port']).toBe(
        String(
          mainContainer(deployments[service]).ports.find(
            (p: { name: string }) => p.name === 'metrics',
          ).containerPort,
        ),
      );
      if (service === 'gateway') {
        expect(onPort('http')).toHaveLength(1);
        expect(onPort('http')[0]?.from, 'the gateway is open to all').toBeUndefined();
        continue;
      }
      const peers = onPort('http').flatMap((rule) => rule.from);
      expect(peers.every(Boolean)).toBe(true);
      const appPeers = peers.filter(
        (p: { namespaceSelector?: unknown }) => p.namespaceSelector === undefined,
      );
      const allowed = appPeers.flatMap(
        (p: { podSelector: { matchLabels: Record<string, string> } }) => podsOf(p.podSelector),
      );
      // auth also answers the services' JWKS fetches (JWT_JWKS_URL).
      expect(allowed.sort(), service).toEqual(
        service === 'auth' ? ['attachments', 'gateway', 'sync'] : ['gateway'],
      );
      // The public port is the app's alone; the scraper is admitted on the metrics port only.
      expect(appPeers, service).toHaveLength(peers.length);
    }
  });

  it('publishes the gateway through an Ingress only when asked', async () => {
    const defaults = await renderChart({ valuesFiles: [minimalValues] });
    expect(ofKind(defaults.objects, 'Ingress')).toHaveLength(0);
    expect(ofKind(defaults.objects, 'ServiceMonitor')).toHaveLength(0);
    const production = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'production-values.yaml')],
      apiVersions: [SERVICE_MONITOR_API],
    });
    const [ingress] = ofKind(production.objects, 'Ingress');
    const gatewayService = ofKind(production.objects, 'Service').find(
      (s) => component(s) === 'gateway',
    ) as K8sObject;
    const backend = ingress?.spec.rules[0].http.paths[0].backend.service;
    expect(backend).toEqual({ name: gatewayService.metadata.name, port: { name: 'http' } });
    expect(ingress?.spec.tls[0].secretName).toBe('journal-tls');
    const [monitor] = ofKind(production.objects, 'ServiceMonitor');
    expect(monitor?.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  });

  it('deploys the web app only with web.enabled, non-root, forwarding the API to the gateway', async () => {
    const defaults = await renderChart({ valuesFiles: [minimalValues] });
    expect(defaults.objects.filter((o) => component(o) === 'web')).toHaveLength(0);
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'production-values.yaml')],
    });
    const deployment = ofKind(objects, 'Deployment').find((d) => component(d) === 'web');
    const service = ofKind(objects, 'Service').find((s) => component(s) === 'web');
    const gateway = ofKind(objects, 'Service').find((s) => component(s) === 'gateway');
    expect(deployment?.spec.replicas).toBe(2);
    const pod = deployment?.spec.template.spec;
    const container = pod.containers[0];
    expect(container.image).toBe('registry.example.com/journal/journal-web:0.1.0');
    expect(container.env).toContainEqual({
      name: 'GATEWAY_URL',
      value: `http://${gateway?.metadata.name}:${gateway?.spec.ports[0].port}`,
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toEqual(
      expect.arrayContaining(['/etc/nginx/conf.d', '/var/cache/nginx', '/var/run', '/tmp']),
    );
    expect(container.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(service?.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);
    expect(service?.spec.selector).toEqual(pod && deployment?.spec.selector.matchLabels);
  });

  it('uses existingSecret instead of a Secret of its own', async () => {
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'production-values.yaml')],
    });
    expect(ofKind(objects, 'Secret')).toHaveLength(0);
    const env = mainContainer(deploymentsByService(objects).auth).env as {
      name: string;
      valueFrom?: { secretKeyRef?: { name: string } };
    }[];
    const secretNames = new Set(
      env.filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom?.secretKeyRef?.name),
    );
    expect([...secretNames]).toEqual(['journal-secrets']);
  });

  it('runs the built-in MongoDB and Redis as single-replica StatefulSets with volumes, wired into the Secret', async () => {
    const { objects } = await renderChart({
      valuesFiles: [join(CHART, 'ci', 'builtin-values.yaml')],
    });
    const sets = ofKind(objects, 'StatefulSet');
    expect(sets.map(component).sort()).toEqual(['mongodb', 'redis']);
    for (const s of sets) {
      expect(s.spec.replicas).toBe(1);
      expect(s.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBeTruthy();
    }
    const [secret] = ofKind(objects, 'Secret');
    const decode = (k: string) => Buffer.from(secret?.data[k], 'base64').toString();
    const mongoService = ofKind(objects, 'Service').find((s) => component(s) === 'mongodb');
    const redisService = ofKind(objects, 'Service').find((s) => component(s) === 'redis');
    expect(decode('mongodb-url')).toBe(
      `mongodb://root:try-it-out@${mongoService?.metadata.name}:27017/?authSource=admin`,
    );
    expect(decode('redis-url')).toBe(`redis://:try-it-out@${redisService?.metadata.name}:6379/0`);
    const defaults = await renderChart({ valuesFiles: [minimalValues] });
    expect(ofKind(defaults.objects, 'StatefulSet')).toHaveLength(0);
  });

  it('has a helm test hook that calls the gateway /ready', async () => {
    const { objects } = await renderChart({ valuesFiles: [minimalValues] });
    const tests = ofKind(objects, 'Pod').filter(
      (p) => p.metadata.annotations?.['helm.sh/hook'] === 'test',
    );
    expect(tests).toHaveLength(1);
    const gatewayService = ofKind(objects, 'Service').find((s) => component(s) === 'gateway');
    const env = tests[0]?.spec.containers[0].env as { name: string; value: string }[];
    expect(env.find((e) => e.name === 'READY_URL')?.value).toBe(
      `http://${gatewayService?.metadata.name}:${gatewayService?.spec.ports[0].port}/ready`,
    );
  });

  it('documents every value in values.yaml with a ## @param line, and no @param names a missing value', () => {
    const text = readFileSync(join(CHART, 'values.yaml'), 'utf8');
    const params = new Set(
      [...text.matchAll(/^\s*## @param ([A-Za-z0-9_.]+) /gm)].map((m) => m[1] as string),
    );
    const values = parseYaml(text) as Record<string, unknown>;
    const leaves: string[] = [];
    const all = new Set<string>();
    const walk = (node: unknown, path: string) => {
      if (path) all.add(path);
      if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length) {
        for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
      } else leaves.push(path);
    };
    walk(values, '');
    const documented = (path: string) => {
      const parts = path.split('.');
      return parts.some((_, i) => params.has(parts.slice(0, i + 1).join('.')));
    };
    expect(leaves.filter((l) => !documented(l))).toEqual([]);
    expect([...params].filter((p) => !all.has(p))).toEqual([]);
  });

  it('renders NOTES.txt with how to reach the gateway and what the built-in stores are for', async () => {
    // helm template skips NOTES.txt: render it through tpl in a copy of the chart.
    const dir = await mkdtemp(join(tmpdir(), 'journal-notes-'));
    await cp(CHART, dir, { recursive: true });
    await cp(join(CHART, 'templates', 'NOTES.txt'), join(dir, 'notes.tpl'));
    await writeFile(
      join(dir, 'templates', 'zz-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "notes.tpl") . | toJson }}\n',
    );
    const notes = async (valuesFile: string) => {
      const { stdout } = await helm([
        'template',
        'journal',
        dir,
        '-n',
        'journal',
        '--kube-version',
        KUBE_VERSIONS[1],
        '-f',
        valuesFile,
        '--show-only',
        'templates/zz-notes.yaml',
      ]);
      return (parseYaml(stdout) as { data: { notes: string } }).data.notes;
    };
    const builtin = await notes(join(CHART, 'ci', 'builtin-values.yaml'));
    expect(builtin).toContain('kubectl -n journal port-forward service/journal-gateway 8000:8000');
    expect(builtin).toContain('helm test journal');
    expect(builtin).toMatch(/WARNING: MongoDB runs as one in-cluster replica/);
    const production = await notes(join(CHART, 'ci', 'production-values.yaml'));
    expect(production).toContain('https://journal.example.com/ready');
    expect(production).not.toMatch(/in-cluster replica/);
  });

  it('types every top-level value in values.schema.json', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as object;
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(values).sort());
    expect(schema.additionalProperties).toBe(false);
  });
});

/** The one object kind without a bundled Kubernetes schema: check its shape by hand. */
function checkServiceMonitor(o: K8sObject) {
  expect(o.kind).toBe('ServiceMonitor');
  expect(o.metadata.name).toMatch(/^[a-z0-9-]+$/);
  expect(o.spec.selector.matchLabels).toBeTruthy();
  expect(Array.isArray(o.spec.endpoints) && o.spec.endpoints.length > 0).toBe(true);
  for (const e of o.spec.endpoints) expect(typeof e.port).toBe('string');
}
