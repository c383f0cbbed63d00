import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IndexedDbStore,
  JournalClient,
  type LocalStore,
  MemoryStore,
  MemoryTokenStore,
} from '@journal/client';
import { SqliteStore } from '@journal/client/sqlite';
import { IDBFactory } from 'fake-indexeddb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { FaultProxy, hostPort, PASSWORD, uniqueUser } from './helpers.js';

/**
 * Convergence, property-based: 5 devices (memory, IndexedDB and SQLite stores) make random
 * creates, edits and deletes, go offline and online, while a loopback proxy cuts some
 * connections mid-request and mid-response. Once all are online and idle, every device equals
 * the server, and every device's last edit of each entry was accepted or surfaced as a conflict.
 * `make test-sdk-long` (or SDK_CONVERGENCE_RUNS / _OPS / _SEED) runs it longer.
 */
const RUNS = Number(process.env.SDK_CONVERGENCE_RUNS ?? 3);
const OPS = Number(process.env.SDK_CONVERGENCE_OPS ?? 50);
const SEED = Number(process.env.SDK_CONVERGENCE_SEED ?? 20261201);
const DEVICES = 5;

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack('sdk-convergence', {
    RATE_LIMIT_AUTHENTICATED_MAX: '1000000',
    RATE_LIMIT_MAX: '1000000',
  });
  dir = await mkdtemp(join(tmpdir(), 'sdk-conv-'));
});
afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

type Op =
  | { kind: 'create'; dev: number }
  | { kind: 'edit'; dev: number; pick: number }
  | { kind: 'delete'; dev: number; pick: number }
  | { kind: 'offline'; dev: number }
  | { kind: 'online'; dev: number }
  | { kind: 'pause'; ms: number };

const dev = fc.integer({ min: 0, max: DEVICES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('create' as const), dev }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('edit' as const), dev, pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), dev, pick: fc.nat() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('offline' as const), dev }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('online' as const), dev }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pause' as const),
      ms: fc.integer({ min: 0, max: 120 }),
    }),
  },
);

/** A small seeded PRNG for the proxy's cuts (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keyOf = (content: Record<string, unknown> | null, deleted: boolean) =>
  deleted ? 'DELETED' : JSON.stringify(content);

interface Device {
  client: JournalClient;
  /** `${id}|${version}` of every change the server accepted from this device. */
  accepted: Set<string>;
  /** `${id}|${version}` of the local side of every conflict this device surfaced. */
  conflicted: Set<string>;
  /** The device's last edit of each entry. */
  last: Map<string, string>;
}

function recordingFetch(accepted: Set<string>): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, init);
    if (String(input).endsWith('/sync/push') && res.ok && typeof init?.body === 'string') {
      const sent = JSON.parse(init.body) as {
        changes: { id: string; deleted?: boolean; content?: Record<string, unknown> }[];
      };
      res
        .clone()
        .json()
        .then((body) => {
          const reply = body as { accepted: { id: string }[] };
          for (const a of reply.accepted) {
            const c = sent.changes.find((x) => x.id === a.id);
            if (c) accepted.add(`${c.id}|${keyOf(c.content ?? null, c.deleted === true)}`);
          }
        })
        .catch(() => {}); // cut mid-response: the resend with the same key answers the same
    }
    return res;
  }) as typeof fetch;
}

async function serverState(username: string): Promise<Map<string, string>> {
  const observer = new JournalClient({ baseUrl: stack.gateway });
  await observer.auth.login({ username, password: PASSWORD });
  await observer.sync.syncNow(10);
  const out = new Map<string, string>();
  for (const e of await observer.entries.list()) out.set(e.id, keyOf(e.content, false));
  await observer.auth.logout();
  return out;
}

async function runScenario(ops: Op[], faultSeed: number, run: number): Promise<void> {
  const username = uniqueUser('conv');
  await new JournalClient({ baseUrl: stack.gateway }).auth.register({
    username,
    password: PASSWORD,
  });
  const random = rng(faultSeed);
  const proxy = await new FaultProxy(hostPort(stack.gateway), () => {
    if (random() >= 0.5) return undefined;
    const bytes = Math.floor(random() * 1500);
    return random() < 0.5 ? { upAfter: bytes } : { downAfter: bytes };
  }).listen();
  const stores: (() => LocalStore)[] = [
    () => new MemoryStore(),
    () => new IndexedDbStore(`conv-${run}`, new IDBFactory()),
    () => new SqliteStore(join(dir, `conv-${run}-${faultSeed}.db`)),
    () => new MemoryStore(),
    () => new IndexedDbStore(`conv-${run}-b`, new IDBFactory()),
  ];
  const devices: Device[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const tokenStore = new MemoryTokenStore();
    await new JournalClient({ baseUrl: stack.gateway, tokenStore }).auth.login({
      username,
      password: PASSWORD,
      deviceName: `device-${d}`,
    });
    const accepted = new Set<string>();
    const client = new JournalClient({
      baseUrl: proxy.url,
      tokenStore,
      store: (stores[d] as () => LocalStore)(),
      deviceId: `device-${d}`,
      fetch: recordingFetch(accepted),
      timeoutMs: 10_000,
      sync: { waitSeconds: 2, minBackoffMs: 20, maxBackoffMs: 400 },
    });
    const device: Device = { client, accepted, conflicted: new Set(), last: new Map() };
    client.on('conflict', (c) => {
      device.conflicted.add(`${c.id}|${keyOf(c.local.content, c.local.deleted)}`);
    });
    client.on('signedOut', () => {
      throw new Error(`device ${d} signed out`);
    });
    devices.push(device);
    client.sync.start();
  }
  let n = 0;
  try {
    for (const op of ops) {
      if (op.kind === 'pause') {
        await new Promise((r) => setTimeout(r, op.ms));
        continue;
      }
      const device = devices[op.dev] as Device;
      const { client } = device;
      if (op.kind === 'offline') client.sync.setOnline(false);
      else if (op.kind === 'online') client.sync.setOnline(true);
      else if (op.kind === 'create') {
        const content = { by: op.dev, n: n++, text: 'new' };
        const e = await client.entries.put(undefined, content);
        device.last.set(e.id, keyOf(content, false));
      } else {
        const list = await client.entries.list();
        const target = list[op.pick % Math.max(1, list.length)];
        if (!target) continue;
        if (op.kind === 'edit') {
          const content = { ...target.content, by: op.dev, n: n++ };
          await client.entries.put(target.id, content);
          device.last.set(target.id, keyOf(content, false));
        } else {
          await client.entries.delete(target.id);
          device.last.set(target.id, 'DELETED');
        }
      }
    }
    // Everyone back online, the network healed; then idle rounds until nothing is pending.
    proxy.plan = () => undefined;
    for (const d of devices) d.client.sync.setOnline(true);
    await Promise.all(devices.map((d) => d.client.sync.stop()));
    for (let round = 0; round < 6; round++) {
      for (const d of devices) await d.client.sync.syncNow(10);
      const pending = await Promise.all(devices.map((d) => d.client.entries.pendingCount()));
      if (round >= 1 && pending.every((p) => p === 0)) break;
    }
    const server = await serverState(username);
    for (const [i, d] of devices.entries()) {
      expect(await d.client.entries.pendingCount(), `device ${i} pending`).toBe(0);
      const local = new Map(
        (await d.client.entries.list()).map((e) => [e.id, keyOf(e.content, false)]),
      );
      expect(local, `device ${i} equals the server`).toEqual(server);
      expect(d.client.conflicts.list()).toEqual([]);
      for (const [id, version] of d.last) {
        const key = `${id}|${version}`;
        expect(
          d.accepted.has(key) || d.conflicted.has(key),
          `device ${i}: last edit of ${id} was neither accepted nor surfaced as a conflict`,
        ).toBe(true);
      }
    }
    stats.cuts += proxy.cuts;
    stats.connections += proxy.connections;
    stats.entries += server.size;
    stats.conflicts += devices.reduce((s, d) => s + d.conflicted.size, 0);
  } finally {
    await Promise.all(devices.map((d) => d.client.close()));
    await proxy.close();
  }
}

const stats = { runs: 0, ops: 0, cuts: 0, connections: 0, entries: 0, conflicts: 0 };

describe('convergence under random edits, offline periods and cut connections', () => {
  it(
    `${DEVICES} devices converge to the server state (${RUNS} runs × ${OPS} ops, seed ${SEED})`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: OPS, maxLength: OPS }),
          fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          async (ops, faultSeed) => {
            stats.runs++;
            stats.ops += ops.length;
            await runScenario(ops, faultSeed, stats.runs);
          },
        ),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      console.log(`convergence: ${JSON.stringify(stats)}`);
      expect(stats.runs).toBe(RUNS);
      expect(stats.cuts).toBeGreaterThan(0);
    },
    Math.max(60_000, RUNS * OPS * 1_500),
  );
});
