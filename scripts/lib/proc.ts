import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

export function log(message: string): void {
  process.stderr.write(`[deps] ${message}\n`);
}

/** Ports this process has handed out: the OS may offer a port it just freed again. */
const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago (the OS picks it), never one this process handed out
 * before: a stack takes eight at once, and two of its services on one port would see each other.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await osFreePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no port this process has not handed out already');
}

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export async function onPath(command: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('sh', ['-c', `command -v ${command}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function waitForPort(
  port: number,
  timeoutMs: number,
  what: string,
  child?: ChildProcess,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`${what} exited with code ${child.exitCode}`);
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
}

/** A child process we started and must stop. */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<ManagedProcess>();

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; output?: 'inherit' | 'ignore' | 'pipe' } = {},
): ManagedProcess {
  const child = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', options.output ?? 'ignore', options.output ?? 'ignore'],
  });
  const managed: ManagedProcess = {
    name,
    child,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        running.delete(managed);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(killer);
          resolve();
        });
        child.kill(signal);
      }),
  };
  running.add(managed);
  child.once('exit', () => running.delete(managed));
  return managed;
}

/** Last resort on exit: nothing we started outlives us. */
process.once('exit', () => {
  for (const p of running) p.child.kill('SIGKILL');
});
