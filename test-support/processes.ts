import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type ManagedProcess, startProcess, waitForPort } from '../scripts/lib/proc.js';
import { ROOT, withLock } from '../scripts/lib/tools.js';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const execFileAsync = promisify(execFile);
let built: Promise<void> | undefined;

/**
 * Brings every workspace's dist/ up to date with an incremental `tsc -b` (a second or two when
 * nothing changed: it compares its .tsbuildinfo, not timestamps of a few files), once per test
 * file, one build at a time across the run's test processes.
 */
export function buildAll(): Promise<void> {
  built ??= withLock(
    'tsc-build',
    async () => {
      await execFileAsync(process.execPath, [TSC, '-b'], { cwd: ROOT });
    },
    join(ROOT, 'node_modules', '.cache'),
  );
  return built;
}

export interface ServiceProcess extends ManagedProcess {
  port: number;
  url: string;
  /** The metrics listener (METRICS_PORT): `${metricsUrl}/metrics`. */
  metricsPort: number;
  metricsUrl: string;
  output: () => string;
}

/**
 * Starts a compiled service as a real process with `env` (plus HOST/PORT, and a free
 * METRICS_PORT unless `env` names one; `METRICS_PORT: ''` leaves the service's default, PORT +
 * 1000) and waits for its port.
 */
export async function startServiceProcess(
  service: string,
  env: Record<string, string>,
  options: { waitForPort?: boolean } = {},
): Promise<ServiceProcess> {
  await buildAll();
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const metricsPort =
    env.METRICS_PORT === undefined
      ? await freePort()
      : env.METRICS_PORT === ''
        ? port + 1000
        : Number(env.METRICS_PORT);
  const proc = startProcess(
    service,
    process.execPath,
    [join(ROOT, 'services', service, 'dist', 'main.js')],
    {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        ...env,
        PORT: String(port),
        METRICS_PORT: env.METRICS_PORT === '' ? '' : String(metricsPort),
      },
      cwd: ROOT,
      output: 'pipe',
    },
  );
  let output = '';
  proc.child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  proc.child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  if (options.waitForPort !== false) await waitForPort(port, 30_000, service, proc.child);
  return {
    ...proc,
    port,
    url: `http://127.0.0.1:${port}`,
    metricsPort,
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    output: () => output,
  };
}

/** Resolves with the exit code (or signal) once the process ends. */
export function exited(proc: ManagedProcess): Promise<number | string> {
  const { child } = proc;
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
}
