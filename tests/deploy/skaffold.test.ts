import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT, skaffoldSchemaPath } from '../../scripts/lib/tools.js';
import {
  CHART,
  component,
  ensureDeployTools,
  ofKind,
  renderChart,
  SERVICES,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';

beforeAll(ensureDeployTools, TOOL_INSTALL_TIMEOUT_MS);

interface Release {
  name: string;
  chartPath: string;
  namespace: string;
  setValueTemplates: Record<string, string>;
  setValues: Record<string, unknown>;
  valuesFiles: string[];
}
interface Skaffold {
  apiVersion: string;
  build: {
    artifacts: {
      image: string;
      context: string;
      docker: { dockerfile: string; buildArgs: Record<string, string> };
    }[];
  };
  manifests: { helm: { releases: Release[] } };
  deploy: { helm?: unknown };
  portForward: {
    resourceType: string;
    resourceName: string;
    namespace: string;
    port: number;
    localPort: number;
  }[];
  profiles: { name: string; patches: { op: string; path: string; value: unknown }[] }[];
}

const text = readFileSync(join(ROOT, 'skaffold.yaml'), 'utf8');
const skaffold = parseYaml(text) as Skaffold;
const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as object;
const hasValue = (path: string) =>
  path
    .split('.')
    .reduce<unknown>(
      (node, key) =>
        node && typeof node === 'object' && key in node
          ? (node as Record<string, unknown>)[key]
          : undefined,
      values,
    ) !== undefined;

describe('skaffold.yaml', () => {
  it('is valid against the JSON schema of its apiVersion (from the skaffold module)', async () => {
    const version = skaffold.apiVersion.replace('skaffold/', '');
    const schema = JSON.parse(readFileSync(await skaffoldSchemaPath(version), 'utf8')) as object;
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const ok = validate(skaffold);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('builds the four images from the root Dockerfile with SERVICE', () => {
    const artifacts = skaffold.build.artifacts;
    expect(artifacts.map((a) => a.image).sort()).toEqual(
      SERVICES.map((s) => `journal-${s}`).sort(),
    );
    for (const a of artifacts) {
      expect(existsSync(join(ROOT, a.context, a.docker.dockerfile))).toBe(true);
      expect(`journal-${a.docker.buildArgs.SERVICE}`).toBe(a.image);
    }
  });

  it('deploys the chart with helm, setting each service image to the one it built', () => {
    expect(skaffold.deploy.helm).toBeDefined();
    const [release] = skaffold.manifests.helm.releases;
    expect(join(ROOT, release?.chartPath ?? '')).toBe(CHART);
    for (const file of release?.valuesFiles ?? [])
      expect(existsSync(join(ROOT, file)), file).toBe(true);
    for (const service of SERVICES) {
      const sanitized = `journal_${service}`;
      expect(release?.setValueTemplates[`${service}.image.repository`]).toBe(
        `{{.IMAGE_REPO_${sanitized}}}`,
      );
      expect(release?.setValueTemplates[`${service}.image.tag`]).toContain(
        `{{.IMAGE_TAG_${sanitized}}}`,
      );
    }
    const keys = [
      ...Object.keys(release?.setValueTemplates ?? {}),
      ...Object.keys(release?.setValues ?? {}),
      ...skaffold.profiles.flatMap((p) =>
        p.patches
          .filter((x) => x.path.startsWith('/manifests/helm/releases/0/setValues/'))
          .map((x) => x.path.split('/').pop() as string),
      ),
    ];
    for (const key of keys) expect(hasValue(key), `${key} is a chart value`).toBe(true);
  });

  it('forwards the gateway Service of that release to localhost:8000, and has a dev profile', async () => {
    const [release] = skaffold.manifests.helm.releases;
    const { objects } = await renderChart({
      release: release?.name,
      namespace: release?.namespace,
      valuesFiles: (release?.valuesFiles ?? []).map((f) => join(ROOT, f)),
    });
    const gateway = ofKind(objects, 'Service').find((s) => component(s) === 'gateway');
    expect(skaffold.portForward).toEqual([
      {
        resourceType: 'service',
        resourceName: gateway?.metadata.name,
        namespace: release?.namespace,
        port: gateway?.spec.ports[0].port,
        localPort: 8000,
      },
    ]);
    expect(skaffold.profiles.map((p) => p.name)).toContain('dev');
  });
});
