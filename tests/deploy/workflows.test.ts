import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensureActionlint, HELM_VERSION, ROOT } from '../../scripts/lib/tools.js';
import { CHART, SERVICES, TOOL_INSTALL_TIMEOUT_MS } from './lib.js';

const execFileAsync = promisify(execFile);
const WORKFLOWS = join(ROOT, '.github', 'workflows');
/** `${{ expr }}` of GitHub Actions, and `${VAR}` of the shell, written without a JS template. */
const gh = (expr: string) => `$\{{ ${expr} }}`;
const sh = (name: string) => `$\{${name}}`;

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<
    string,
    {
      steps: Step[];
      strategy?: { matrix?: Record<string, unknown> };
      permissions?: Record<string, string>;
      'timeout-minutes'?: number;
    }
  >;
}

const read = (file: string) => parseYaml(readFileSync(join(WORKFLOWS, file), 'utf8')) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const action = (w: Workflow, name: string) =>
  steps(w).filter((s) => s.uses?.split('@')[0] === name);

let actionlint: string;
beforeAll(async () => {
  actionlint = await ensureActionlint();
}, TOOL_INSTALL_TIMEOUT_MS);

async function lint(files: string[]): Promise<{ code: number; output: string }> {
  return execFileAsync(actionlint, ['-no-color', ...files], { cwd: ROOT }).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      output: err.stdout + err.stderr,
    }),
  );
}

describe('GitHub workflows', () => {
  it('pass actionlint (built from the Go module proxy)', async () => {
    const files = readdirSync(WORKFLOWS)
      .filter((f) => /\.ya?ml$/.test(f))
      .map((f) => join(WORKFLOWS, f));
    expect(files.map((f) => f.slice(WORKFLOWS.length + 1)).sort()).toEqual([
      'ci.yml',
      'release.yml',
    ]);
    const result = await lint(files);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('actionlint rejects a broken workflow (the check can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'journal-actionlint-'));
    const file = join(dir, 'broken.yml');
    await writeFile(
      file,
      `on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n        with: { no-such-input: 1 }\n      - run: echo ${gh('github.no_such_thing')}\n`,
    );
    const result = await lint([file]);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/no-such-input/);
  });

  it('ci runs make test on pushes and pull requests within the 90 minutes CI gives', () => {
    const ci = read('ci.yml');
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    expect(steps(ci).some((s) => s.run?.trim() === 'make test')).toBe(true);
    expect(action(ci, 'actions/setup-go')).toHaveLength(1);
    for (const job of Object.values(ci.jobs))
      expect(job['timeout-minutes']).toBeLessThanOrEqual(90);
    expect(ci.permissions).toEqual({ contents: 'read' });
  });

  it('release builds multi-arch images of the four services and the web app on tags and pushes the chart as an OCI artifact', () => {
    const release = read('release.yml');
    expect(release.on).toEqual({ push: { tags: ['v*.*.*'] } });
    for (const name of [
      'docker/setup-qemu-action',
      'docker/setup-buildx-action',
      'docker/login-action',
      'docker/build-push-action',
    ])
      expect(action(release, name), name).toHaveLength(1);
    const images = release.jobs.images;
    expect([...((images?.strategy?.matrix?.service as string[] | undefined) ?? [])].sort()).toEqual(
      [...SERVICES, 'web'].sort(),
    );
    // The web app is the Dockerfile's `web` target, the chart's web.image (journal-web).
    expect(images?.strategy?.matrix?.include).toEqual([{ service: 'web', target: 'web' }]);
    expect(images?.permissions?.packages).toBe('write');
    const [build] = action(release, 'docker/build-push-action');
    expect(String(build?.with?.platforms).split(',').sort()).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
    expect(build?.with?.push).toBe(true);
    expect(build?.with?.['build-args']).toBe(`SERVICE=${gh('matrix.service')}`);
    expect(build?.with?.target).toBe(gh("matrix.target || 'runtime'"));
    const [login] = action(release, 'docker/login-action');
    expect(login?.with?.registry).toBe('ghcr.io');
    const [meta] = action(release, 'docker/metadata-action');
    // The repository the chart pulls by default: ghcr.io/<owner>/journal-<service>.
    expect(meta?.with?.images).toBe(
      `ghcr.io/${gh('steps.owner.outputs.name')}/journal-${gh('matrix.service')}`,
    );
    const chart = steps(release)
      .map((s) => s.run ?? '')
      .join('\n');
    expect(chart).toMatch(/helm package deploy\/helm\/journal --version "\$\{version\}"/);
    expect(chart).toContain(`helm push "${sh('FILE')}" "oci://ghcr.io/${sh('OWNER')}/charts"`);
    const [setupHelm] = action(release, 'azure/setup-helm');
    expect(setupHelm?.with?.version).toBe(HELM_VERSION);
  });

  it('the release sets the chart’s image.owner with a line that matches exactly one line of values.yaml', () => {
    const values = readFileSync(join(CHART, 'values.yaml'), 'utf8');
    expect(values.split('\n').filter((l) => /^ {2}owner: /.test(l))).toEqual(['  owner: journal']);
    const chart = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
      image: { owner: string; registry: string };
    };
    expect(chart.image).toMatchObject({ registry: 'ghcr.io', owner: 'journal' });
  });
});
