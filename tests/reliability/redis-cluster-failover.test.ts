import {
  createLogger,
  createRedis,
  loadConfig,
  type Redis,
  redisTargetFromConfig,
  serviceConfigSchema,
} from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../../scripts/lib/stack.js';
import { createChangeNotifier } from '../../services/sync/src/changes/notifier.js';
import { client, expectNoSecretsIn, registerUser } from '../../test-support/client.js';
import {
  expectFailoverOutcome,
  failoverUsers,
  startFailoverLoad,
} from '../../test-support/failover-load.js';
import {
  monitorNode,
  type RedisClusterSet,
  startRedisCluster,
  withNode,
} from '../../test-support/redis-topology.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * Redis Cluster: 3 primaries + 3 replicas (cluster-node-timeout 1000 ms) on loopback, the whole
 * stack on it through REDIS_CLUSTER_NODES.
 * 1. The hash-slot rule: every Redis-touching path of every service runs against the real
 *    Cluster (register, login, a failed login, refresh, refresh-token reuse, logout of all
 *    devices, a push with an Idempotency-Key and its replay, a long-poll wake-up, an upload and
 *    its download, the gateway's rate limit). The Cluster refuses a multi-key command, Lua
 *    script or MULTI whose keys span slots (CROSSSLOT), so each call must succeed and no
 *    service may log CROSSSLOT; MONITOR on every primary records the commands that ran, to show
 *    the walk covered each kind (Lua scripts, SET NX, DEL, PUBLISH) and to re-check each
 *    command's keys (COMMAND GETKEYS) slot by slot. A new key, script or pipeline that spans
 *    slots fails here.
 * 2. Pub/sub wake-ups reach every sync replica (one subscriber per replica, on random nodes).
 * 3. A primary is SIGKILLed under load: calls fail as 503 problems only until its replica took
 *    over, nothing hangs, nothing acknowledged is lost, and wake-ups work afterwards.
 */

let cluster: RedisClusterSet;
let stack: TestStack;

beforeAll(async () => {
  cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 1, nodeTimeoutMs: 1_000 });
  stack = await startTestStack('cluster', { LOG_LEVEL: 'warn', ...NO_RATE_LIMITS, ...cluster.env });
});

afterAll(async () => {
  await stack?.stop();
  await cluster?.stop();
});

const clusterConfig = () =>
  loadConfig(serviceConfigSchema({}), { ...cluster.env, REDIS_URL: undefined });

describe('Redis Cluster: every command keeps its keys in one hash slot', () => {
  it('records every command of every service path and finds no cross-slot one', async () => {
    const monitors: { stop: () => void }[] = [];
    const seen: string[][] = [];
    for (const node of await cluster.primaries()) {
      monitors.push(
        await monitorNode(node.port, cluster.password, (args, source) => {
          if (source !== 'lua') seen.push(args);
        }),
      );
    }

    const api = client(stack.gateway);
    const a = await registerUser(api, 'slots');
    const second = await api.post<{ accessToken: string; refreshToken: string }>('/auth/login', {
      username: a.username,
      password: a.password,
      deviceName: 'second',
    });
    expect(second.status, second.text).toBe(200);
    expect(
      (await api.post('/auth/login', { username: a.username, password: 'wrong-password' })).status,
    ).toBe(401);
    const refreshed = await api.post<{ accessToken: string; refreshToken: string }>(
      '/auth/refresh',
      {
        refreshToken: a.refreshToken,
      },
    );
    expect(refreshed.status, refreshed.text).toBe(200);
    // Reusing the replaced refresh token ends the session (refresh-token reuse detection).
    expect((await api.post('/auth/refresh', { refreshToken: a.refreshToken })).status).toBe(401);
    const token = second.body.accessToken;
    const headers = { 'idempotency-key': 'slots-key-1' };
    const body = { changes: [{ id: 'slot-entry', baseRevision: 0, content: { a: 1 } }] };
    const waiting = api.get<{ changes: unknown[] }>('/sync/changes?since=0&wait=10', token);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const pushed = await api.post('/sync/push', body, token, headers);
    expect(pushed.status, pushed.text).toBe(200);
    expect((await api.post('/sync/push', body, token, headers)).text).toBe(pushed.text);
    const woke = await waiting;
    expect(woke.body.changes).toHaveLength(1);
    // Woken by the push (two pushes, a replay among them), long before the 10 s wait ends.
    expect(Date.now() - t0).toBeLessThan(5_000);
    const upload = await api.call('PUT', '/attachments/slot-file', {
      token,
      body: 'attachment bytes',
      headers: { 'content-type': 'text/plain' },
    });
    expect(upload.status, upload.text).toBeLessThan(300);
    expect((await api.get('/attachments/slot-file', token)).status).toBe(200);
    expect(
      (await api.call('POST', '/auth/logout', { token, json: { allDevices: true } })).status,
    ).toBe(204);
    expect((await api.get('/auth/me', token)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    for (const m of monitors) m.stop();

    // Every command with keys: all of them in one slot (the server computes keys and slots).
    const violations: string[] = [];
    const names = new Set<string>();
    await withNode(cluster.all[0]?.port ?? 0, cluster.password, async (r) => {
      for (const args of seen) {
        const name = (args[0] ?? '').toLowerCase();
        names.add(name);
        let keys: string[] = [];
        try {
          keys = (await r.call('COMMAND', 'GETKEYS', ...args)) as string[];
        } catch {
          continue; // a command without keys (PING, PUBLISH, CLUSTER, INFO, ...)
        }
        const slots = new Set<number>();
        for (const key of keys) slots.add(Number(await r.call('CLUSTER', 'KEYSLOT', key)));
        if (slots.size > 1) violations.push(args.join(' ').slice(0, 200));
      }
    });
    expect(violations).toEqual([]);
    // The walk reached the commands that matter: session keys, Lua rate limits, idempotency
    // claims (SET NX), session deletion and the wake-up PUBLISH.
    for (const name of ['get', 'set', 'del', 'publish']) expect([...names]).toContain(name);
    expect([...names].some((n) => n === 'evalsha' || n === 'eval')).toBe(true);
    expect(stack.logs().filter((l) => /CROSSSLOT|non local key/i.test(l))).toEqual([]);
  });

  it('delivers a wake-up to every sync replica, whichever node each subscribes on', async () => {
    const logger = createLogger('test', 'silent');
    const replicas: { redis: Redis; notifier: ReturnType<typeof createChangeNotifier> }[] = [];
    for (let i = 0; i < 4; i++) {
      const redis = createRedis(redisTargetFromConfig(clusterConfig()), {
        options: { keyPrefix: 'wake:' },
      });
      const notifier = createChangeNotifier({ redis, keyPrefix: 'wake:', logger });
      replicas.push({ redis, notifier });
    }
    try {
      await Promise.all(replicas.map((r) => r.notifier.ready()));
      const waiters = replicas.map((r) => r.notifier.register('user-1'));
      const woken = waiters.map((w) => w.next(Date.now() + 5_000));
      await replicas[0]?.notifier.publish('user-1', 7);
      expect(await Promise.all(woken)).toEqual(['notified', 'notified', 'notified', 'notified']);
      for (const w of waiters) w.dispose();
    } finally {
      for (const r of replicas) {
        await r.notifier.close();
        r.redis.disconnect();
      }
    }
  });
});

describe('Redis Cluster: a primary dies under load', () => {
  it('its replica takes over within seconds, each failed call a 503 problem, nothing lost', async () => {
    const users = await failoverUsers(stack);
    const load = startFailoverLoad(stack, users, 'cluster');
    // The stack works on this topology before the fault: a clean 3 s of every kind of call.
    await load.steady();

    const [victim] = await cluster.primaries();
    if (!victim) throw new Error('no primary');
    const killedAt = Date.now();
    await victim.kill();
    const deadline = Date.now() + 60_000;
    while (!(await cluster.healthy().catch(() => false))) {
      expect(Date.now() < deadline, 'the cluster never recovered').toBe(true);
      await new Promise((r) => setTimeout(r, 200));
    }
    await expectFailoverOutcome(stack, load, {
      label: 'cluster',
      killedAt,
      overAt: Date.now(),
      overName: 'clusterOkAfterMs',
    });
    expect((await cluster.primaries()).length).toBe(3);

    // Wake-ups still arrive after the failover (the subscription moved if its node died).
    const api = client(stack.gateway);
    const user = users[0];
    if (!user) throw new Error('no user');
    let revision = 0;
    for (let more = true; more; ) {
      const page = await api.get<{ revision: number; hasMore: boolean }>(
        `/sync/changes?since=${revision}&limit=1000`,
        user.accessToken,
      );
      expect(page.status, page.text).toBe(200);
      revision = page.body.revision;
      more = page.body.hasMore;
    }
    // A subscription whose node died moves with the next slot refresh: a few tries, one of
    // which must be woken within 3 s (a lost wake-up would wait out the 10 s).
    const wakeUps: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const waiting = api.get<{ changes: unknown[]; revision: number }>(
        `/sync/changes?since=${revision}&wait=10`,
        user.accessToken,
      );
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      const pushed = await api.post(
        '/sync/push',
        { changes: [{ id: `after-failover-${attempt}`, baseRevision: 0, content: {} }] },
        user.accessToken,
      );
      expect(pushed.status, pushed.text).toBe(200);
      const woke = await waiting;
      expect(woke.status, woke.text).toBe(200);
      const elapsed = Date.now() - t0;
      const woken = woke.body.changes.length === 1;
      // Not woken: the wait ends at its deadline with its earlier (empty) read.
      wakeUps.push(woken ? elapsed : Number.POSITIVE_INFINITY);
      const now = await api.get<{ revision: number }>(
        `/sync/changes?since=${revision}`,
        user.accessToken,
      );
      revision = now.body.revision;
      if (woken && elapsed < 3_000) break;
    }
    console.log(`wake-ups after the failover (ms): ${wakeUps.join(', ')}`);
    expect(Math.min(...wakeUps)).toBeLessThan(3_000);
    expectNoSecretsIn(stack.logs(), [cluster.password]);
  }, 120_000);
});
