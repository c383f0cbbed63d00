import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileAsync, log, onPath } from './proc.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TOOLS_BIN = join(ROOT, '.tools', 'bin');

export const FERRETDB_VERSION = 'v1.24.2';
export const HELM_VERSION = 'v3.16.4';

/** A lock directory with no owner file this old was left between mkdir and writing it. */
const OWNERLESS_STALE_MS = 30_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but is someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * True when the lock at `lock` was left by a process that is gone: its `owner` file names a
 * pid that no longer runs, or it has had no owner file for OWNERLESS_STALE_MS (its maker died
 * between creating it and writing the file).
 */
export async function lockIsStale(lock: string, now = Date.now()): Promise<boolean> {
  const owner = await readFile(join(lock, 'owner'), 'utf8').catch(() => undefined);
  const pid = Number(owner?.trim());
  if (owner !== undefined && Number.isInteger(pid) && pid > 0) return !alive(pid);
  const made = await stat(lock).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
  return made !== undefined && now - made > OWNERLESS_STALE_MS;
}

/**
 * Runs `fn` while holding the lock `<dir>/<name>.lock`: a directory (mkdir is atomic) holding
 * the owner's pid. A lock left by a killed process is detected (`lockIsStale`) and cleared,
 * so one crash does not make every later run wait out the timeout.
 */
export async function withLock<T>(
  name: string,
  fn: () => Promise<T>,
  dir = join(ROOT, '.tools'),
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<T> {
  const lock = join(dir, `${name}.lock`);
  await mkdir(dir, { recursive: true });
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'owner'), `${process.pid}\n`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await lockIsStale(lock)) {
        log(`clearing the stale lock ${lock} (its owner is gone)`);
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/**
 * A Debian-packaged tool, found by `find` or installed with apt-get when missing (we are root
 * here). One install at a time across the run's processes; apt waits up to 10 minutes for a dpkg
 * lock another process holds (a fresh machine's unattended upgrades) instead of failing at once.
 */
async function ensureDebianTool<T>(
  what: string,
  pkg: string,
  find: () => Promise<T | undefined>,
  installFlags = '',
): Promise<T> {
  const found = await find();
  if (found) return found;
  return withLock('apt', async () => {
    const again = await find();
    if (again) return again;
    log(`${what} not found: installing the Debian package ${pkg}`);
    const apt = 'apt-get -o DPkg::Lock::Timeout=600';
    await execFileAsync(
      'sh',
      [
        '-c',
        `${apt} update -qq && DEBIAN_FRONTEND=noninteractive ${apt} install -y -qq ${installFlags} ${pkg}`,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const installed = await find();
    if (!installed) throw new Error(`${what} is still missing after apt-get install ${pkg}`);
    return installed;
  });
}

/** A command on PATH, installing its Debian package when missing. */
function ensureDebianCommand(command: string, pkg: string): Promise<string> {
  return ensureDebianTool(command, pkg, () => onPath(command));
}

/** redis-server on PATH, installing Debian's package when missing. */
export function ensureRedisServer(): Promise<string> {
  return ensureDebianCommand('redis-server', 'redis-server');
}

/** redis-sentinel on PATH (Debian's redis-sentinel package), installed when missing. */
export function ensureRedisSentinel(): Promise<string> {
  return ensureDebianCommand('redis-sentinel', 'redis-sentinel');
}

/** redis-cli (Debian's redis-tools, a dependency of redis-server), installed when missing. */
export function ensureRedisCli(): Promise<string> {
  return ensureDebianCommand('redis-cli', 'redis-tools');
}

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Debian's chromium at /usr/bin/chromium for the web app's browser tests, installing the
 * package when missing (playwright-core drives it; nothing downloads a browser build).
 */
export function ensureChromium(): Promise<string> {
  return ensureDebianTool('chromium', 'chromium', async () =>
    existsSync(CHROMIUM_PATH) ? CHROMIUM_PATH : undefined,
  );
}

/**
 * FerretDB built from the Go module proxy into .tools/bin. A plain `go install` of
 * cmd/ferretdb panics at start-up because the module lacks build/version/version.txt, so we
 * copy the downloaded module, write that file, and `go build` it.
 */
export async function ensureFerretdb(): Promise<string> {
  const binary = join(TOOLS_BIN, 'ferretdb');
  if (existsSync(binary)) return binary;
  return withLock('ferretdb', async () => {
    if (existsSync(binary)) return binary;
    if (!(await onPath('go')))
      throw new Error('neither mongod nor Go is available to get FerretDB');
    log(`building FerretDB ${FERRETDB_VERSION} (once; about 2 minutes)`);
    const { stdout } = await execFileAsync(
      'go',
      ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${FERRETDB_VERSION}`],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const moduleDir = (JSON.parse(stdout) as { Dir: string }).Dir;
    const src = join(ROOT, '.tools', 'src', `ferretdb-${FERRETDB_VERSION}`);
    await rm(src, { recursive: true, force: true });
    await cp(moduleDir, src, { recursive: true });
    await execFileAsync('chmod', ['-R', 'u+w', src]);
    await writeFile(join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    await mkdir(TOOLS_BIN, { recursive: true });
    await execFileAsync('go', ['build', '-o', binary, './cmd/ferretdb'], {
      cwd: src,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    await rm(src, { recursive: true, force: true });
    return binary;
  });
}

/** helm from the Go module proxy into .tools/bin. */
export async function ensureHelm(): Promise<string> {
  const binary = join(TOOLS_BIN, 'helm');
  if (existsSync(binary)) return binary;
  return withLock('helm', async () => {
    if (existsSync(binary)) return binary;
    log(`installing helm ${HELM_VERSION} with go install`);
    await mkdir(TOOLS_BIN, { recursive: true });
    await execFileAsync('go', ['install', `helm.sh/helm/v3/cmd/helm@${HELM_VERSION}`], {
      env: { ...process.env, GOBIN: TOOLS_BIN, CGO_ENABLED: '0' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return binary;
  });
}

export const ACTIONLINT_VERSION = 'v1.7.12';

/** actionlint (the GitHub Actions workflow linter) from the Go module proxy into .tools/bin. */
export async function ensureActionlint(): Promise<string> {
  const binary = join(TOOLS_BIN, 'actionlint');
  if (existsSync(binary)) return binary;
  return withLock('actionlint', async () => {
    if (existsSync(binary)) return binary;
    log(`installing actionlint ${ACTIONLINT_VERSION} with go install`);
    await mkdir(TOOLS_BIN, { recursive: true });
    await execFileAsync(
      'go',
      ['install', `github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}`],
      {
        env: { ...process.env, GOBIN: TOOLS_BIN, CGO_ENABLED: '0' },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return binary;
  });
}

export const KUBERNETES_VALIDATE_VERSION = '1.37.0';

/**
 * kubernetes-validate from PyPI in a venv of its own under .tools: it ships the Kubernetes JSON
 * schemas of many versions, so rendered manifests are validated offline (kubeconform would
 * download its schemas at run time).
 */
export async function ensureKubernetesValidate(): Promise<string> {
  const venv = join(ROOT, '.tools', 'venv-k8s');
  const binary = join(venv, 'bin', 'kubernetes-validate');
  if (existsSync(binary)) return binary;
  return withLock('kubernetes-validate', async () => {
    if (existsSync(binary)) return binary;
    log(`installing kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} into .tools/venv-k8s`);
    if (!existsSync(join(venv, 'bin', 'pip'))) await execFileAsync('python3', ['-m', 'venv', venv]);
    await execFileAsync(
      join(venv, 'bin', 'pip'),
      ['install', '-q', `kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}`],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return binary;
  });
}

/**
 * Prometheus and promtool on PATH, installing Debian's package `prometheus` (which ships both)
 * when either is missing. Used by the alert-rule tests and the metrics drift test.
 */
export function ensurePrometheus(): Promise<{ prometheus: string; promtool: string }> {
  return ensureDebianTool(
    'prometheus/promtool',
    'prometheus',
    async () => {
      const prometheus = await onPath('prometheus');
      const promtool = await onPath('promtool');
      return prometheus && promtool ? { prometheus, promtool } : undefined;
    },
    '--no-install-recommends',
  );
}

/** nginx on PATH (or Debian's /usr/sbin/nginx), installing the Debian package when missing. */
export function ensureNginx(): Promise<string> {
  return ensureDebianTool(
    'nginx',
    'nginx',
    async () =>
      (await onPath('nginx')) ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined),
  );
}

export const COMPOSE_GO_VERSION = 'v2.16.2';

/**
 * The Compose Specification JSON schema that docker compose itself validates with, from the
 * compose-go module (fetched through the Go module proxy into the module cache, no build).
 */
export async function composeSpecSchemaPath(): Promise<string> {
  const { stdout } = await execFileAsync(
    'go',
    ['mod', 'download', '-json', `github.com/compose-spec/compose-go/v2@${COMPOSE_GO_VERSION}`],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  return join((JSON.parse(stdout) as { Dir: string }).Dir, 'schema', 'compose-spec.json');
}

export const SKAFFOLD_VERSION = 'v2.16.1';

/** The JSON schema of a skaffold.yaml apiVersion (e.g. `v4beta13`), from the skaffold module. */
export async function skaffoldSchemaPath(apiVersion: string): Promise<string> {
  const { stdout } = await execFileAsync(
    'go',
    ['mod', 'download', '-json', `github.com/GoogleContainerTools/skaffold/v2@${SKAFFOLD_VERSION}`],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  return join(dir, 'docs-v2', 'content', 'en', 'schemas', `${apiVersion}.json`);
}
