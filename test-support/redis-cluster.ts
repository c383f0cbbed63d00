import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect, execFileAsync, freePort } from '../scripts/lib/proc.js';
import { ensureRedisCli, ensureRedisServer } from '../scripts/lib/tools.js';
import { type RedisNode, serverArgs, startNode, waitUntil, withNode } from './redis-topology.js';

/** A real Redis Cluster on loopback for failover tests: primaries with their replicas. */

export interface RedisClusterSet {
  password: string;
  /** `host:port,...` for REDIS_CLUSTER_NODES (every node, primaries and replicas). */
  nodes: string;
  env: Record<string, string>;
  all: RedisNode[];
  /** The nodes that are primaries now. */
  primaries(): Promise<RedisNode[]>;
  /** True when every live node reports cluster_state:ok. */
  healthy(): Promise<boolean>;
  stop(): Promise<void>;
}

/** A port whose cluster bus port (port + 10000) is free as well. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 < 65_536 && !(await canConnect(port + 10_000))) return port;
  }
}

/**
 * `primaries` primaries with `replicasPerPrimary` replicas each, created by
 * `redis-cli --cluster create`, with `nodeTimeoutMs` as cluster-node-timeout.
 */
export async function startRedisCluster(
  options: { primaries?: number; replicasPerPrimary?: number; nodeTimeoutMs?: number } = {},
): Promise<RedisClusterSet> {
  const [server, cli] = await Promise.all([ensureRedisServer(), ensureRedisCli()]);
  const primariesWanted = options.primaries ?? 3;
  const replicas = options.replicasPerPrimary ?? 1;
  const count = primariesWanted * (1 + replicas);
  const dir = await mkdtemp(join(tmpdir(), 'journal-cluster-'));
  const password = randomBytes(12).toString('hex');
  const all: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(all.map((n) => n.proc.stop('SIGKILL')));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = await clusterPort();
      all.push(
        await startNode(
          `redis-cluster-${i}`,
          server,
          serverArgs(port, dir, password, [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            String(options.nodeTimeoutMs ?? 1_000),
            // A replica takes over however long it was cut off (the test kills at any moment).
            '--cluster-replica-validity-factor',
            '0',
          ]),
          port,
        ),
      );
    }
    await execFileAsync(cli, [
      '-a',
      password,
      '--no-auth-warning',
      '--cluster',
      'create',
      ...all.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    const alive = () =>
      all.filter((n) => n.proc.child.exitCode === null && n.proc.child.signalCode === null);
    /** Every live node says ok, and every slot-holding primary is a live process. */
    const healthy = async () => {
      const live = new Set(alive().map((n) => n.port));
      for (const n of alive()) {
        const ok = await withNode(n.port, password, async (r) => {
          if (!/cluster_state:ok/.test(String(await r.call('CLUSTER', 'INFO')))) return false;
          const lines = String(await r.call('CLUSTER', 'NODES'))
            .trim()
            .split('\n');
          return lines.every((line) => {
            const [, address = '', flags = '', , , , , , ...slots] = line.split(' ');
            if (!flags.includes('master') || slots.length === 0) return true;
            return live.has(Number(address.split(/[:@]/)[1]));
          });
        });
        if (!ok) return false;
      }
      return true;
    };
    await waitUntil('the cluster to be ok on every node', 30_000, healthy);
    const nodes = all.map((n) => `127.0.0.1:${n.port}`).join(',');
    return {
      password,
      nodes,
      env: { REDIS_URL: '', REDIS_CLUSTER_NODES: nodes, REDIS_PASSWORD: password },
      all,
      async primaries() {
        const result: RedisNode[] = [];
        for (const n of alive()) {
          const role = await withNode(n.port, password, (r) => r.info('replication'));
          if (/role:master/.test(role)) result.push(n);
        }
        return result;
      },
      healthy,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
