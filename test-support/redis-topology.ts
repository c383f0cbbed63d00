import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  canConnect,
  freePort,
  type ManagedProcess,
  startProcess,
  waitForPort,
} from '../scripts/lib/proc.js';
import { ensureRedisCli, ensureRedisSentinel, ensureRedisServer } from '../scripts/lib/tools.js';

/**
 * Real Redis topologies on loopback for failover tests: a Sentinel-managed primary with its
 * replica and three Sentinels, and a Redis Cluster of primaries with one replica each. Every
 * server has a password (the test checks none of them reaches a log line).
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface RedisNode {
  port: number;
  proc: ManagedProcess;
  /** SIGKILL: the process dies without a word, the way a lost node does. */
  kill(): Promise<void>;
}

/**
 * MONITOR on a node through `redis-cli` (a client of its own, so nothing else on the
 * connection can be mistaken for a monitor line). `onCommand` gets each command's arguments and
 * its source (`127.0.0.1:50882`, or `lua` for a command a script ran). Resolves once streaming.
 */
export async function monitorNode(
  port: number,
  password: string,
  onCommand: (args: string[], source: string) => void,
): Promise<{ stop: () => void }> {
  const cli = await ensureRedisCli();
  const child = spawn(cli, ['-p', String(port), '-a', password, '--no-auth-warning', 'monitor'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let buffered = '';
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    ready = resolve;
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === 'OK') ready();
      const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line.trim());
      if (m) onCommand(parseMonitorArgs(m[2] ?? ''), m[1] ?? '');
    }
  });
  await Promise.race([started, new Promise((r) => setTimeout(r, 5_000))]);
  return { stop: () => child.kill('SIGKILL') };
}

/** The quoted arguments of a MONITOR line (`"set" "k" "a\"b"`), escapes decoded. */
export function parseMonitorArgs(text: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    args.push(
      (m[1] ?? '').replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_all, e: string) => {
        if (e.length === 3) return String.fromCharCode(Number.parseInt(e.slice(1), 16));
        return (
          ({ n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' } as Record<string, string>)[e] ?? e
        );
      }),
    );
  }
  return args;
}

/** A one-shot client to a node (password set), closed after `fn`. */
export async function withNode<T>(
  port: number,
  password: string,
  fn: (r: Redis) => Promise<T>,
): Promise<T> {
  const r = new Redis({
    port,
    host: '127.0.0.1',
    password,
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

export function serverArgs(
  port: number,
  dir: string,
  password: string,
  extra: string[] = [],
): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--requirepass',
    password,
    '--masterauth',
    password,
    '--repl-diskless-sync',
    'yes',
    '--repl-diskless-sync-delay',
    '0',
    ...extra,
  ];
}

export async function startNode(name: string, binary: string, args: string[], port: number) {
  const proc = startProcess(name, binary, args);
  await waitForPort(port, 15_000, name, proc.child);
  return { port, proc, kill: () => proc.stop('SIGKILL') } satisfies RedisNode;
}

export interface SentinelSet {
  name: string;
  password: string;
  sentinelPassword: string;
  /** `host:port,...` for REDIS_SENTINELS. */
  sentinels: string;
  /** The env of a service using this set. */
  env: Record<string, string>;
  primary: RedisNode;
  replica: RedisNode;
  /** The port Sentinels name as primary now. */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A primary, one replica and three Sentinels (quorum 2) with `downAfterMs` of patience. */
export async function startSentinelSet(
  options: { downAfterMs?: number } = {},
): Promise<SentinelSet> {
  const [server, sentinelBinary] = await Promise.all([ensureRedisServer(), ensureRedisSentinel()]);
  const dir = await mkdtemp(join(tmpdir(), 'journal-sentinel-'));
  const name = 'journal';
  const password = randomBytes(12).toString('hex');
  const sentinelPassword = randomBytes(12).toString('hex');
  const procs: ManagedProcess[] = [];
  try {
    const primaryPort = await freePort();
    const primary = await startNode(
      'redis-primary',
      server,
      serverArgs(primaryPort, dir, password),
      primaryPort,
    );
    procs.push(primary.proc);
    const replicaPort = await freePort();
    const replica = await startNode(
      'redis-replica',
      server,
      serverArgs(replicaPort, dir, password, ['--replicaof', '127.0.0.1', String(primaryPort)]),
      replicaPort,
    );
    procs.push(replica.proc);
    await waitUntil('the replica to sync', 15_000, () =>
      withNode(replicaPort, password, async (r) =>
        /master_link_status:up/.test(await r.info('replication')),
      ),
    );
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = join(dir, `sentinel-${i}.conf`);
      await writeFile(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1_000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          `sentinel auth-pass ${name} ${password}`,
          `requirepass ${sentinelPassword}`,
          '',
        ].join('\n'),
      );
      const s = await startNode(`redis-sentinel-${i}`, sentinelBinary, [file], port);
      procs.push(s.proc);
      sentinelPorts.push(port);
    }
    const currentPrimaryPort = async () => {
      for (const port of sentinelPorts) {
        if (!(await canConnect(port))) continue;
        const addr = await withNode(port, sentinelPassword, (r) =>
          r.call('SENTINEL', 'get-master-addr-by-name', name),
        ).catch(() => null);
        if (Array.isArray(addr)) return Number(addr[1]);
      }
      throw new Error('no Sentinel answers');
    };
    // Every Sentinel knows the replica and the other Sentinels before anything is killed.
    await waitUntil('the Sentinels to know each other', 30_000, async () => {
      for (const port of sentinelPorts) {
        const info = await withNode(port, sentinelPassword, (r) => r.info('sentinel'));
        if (!/slaves=1,sentinels=3/.test(info)) return false;
      }
      return true;
    });
    const sentinels = sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',');
    return {
      name,
      password,
      sentinelPassword,
      sentinels,
      env: {
        REDIS_URL: '',
        REDIS_SENTINELS: sentinels,
        REDIS_SENTINEL_NAME: name,
        REDIS_PASSWORD: password,
        REDIS_SENTINEL_PASSWORD: sentinelPassword,
      },
      primary,
      replica,
      currentPrimaryPort,
      stop: async () => {
        await Promise.all(procs.map((p) => p.stop('SIGKILL')));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export { type RedisClusterSet, startRedisCluster } from './redis-cluster.js';
