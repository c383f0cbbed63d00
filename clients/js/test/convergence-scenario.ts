import { join } from 'node:path';
import {
  IndexedDbStore,
  JournalClient,
  JournalError,
  type LocalStore,
  MemoryStore,
  MemoryTokenStore,
} from '@journal/client';
import { SqliteStore } from '@journal/client/sqlite';
import { IDBFactory } from 'fake-indexeddb';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { TestStack } from '../../../test-support/stack.js';
import { decryptEntry, isEnvelope, unlockWithPassphrase } from '../src/crypto/index.js';
import { FaultProxy, hostPort, PASSWORD, uniqueUser } from './helpers.js';

/**
 * The machinery of the convergence property (convergence.test.ts): devices on every store make
 * random creates, edits and deletes, go offline and online, behind a proxy that cuts
 * connections; then every device must equal the server, and every device's last edit of each
 * entry was accepted or surfaced as a conflict. With `encrypted`, the account has end-to-end
 * encryption on (what devices push is decrypted with the account's keys to be compared), and
 * one device changes the passphrase half-way while the others are offline.
 */

export const DEVICES = 5;

export type Op =
  | { kind: 'create'; dev: number }
  | { kind: 'edit'; dev: number; pick: number }
  | { kind: 'delete'; dev: number; pick: number }
  | { kind: 'offline'; dev: number }
  | { kind: 'online'; dev: number }
  | { kind: 'pause'; ms: number };

const dev = fc.integer({ min: 0, max: DEVICES - 1 });
export const opArb: fc.Arbitrary<Op> = fc.oneof(
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

type Decode = (id: string, content: Record<string, unknown>) => Promise<Record<string, unknown>>;

function recordingFetch(accepted: Set<string>, decode: () => Decode | undefined): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await fetch(input, init);
    if (String(input).endsWith('/sync/push') && res.ok && typeof init?.body === 'string') {
      const sent = JSON.parse(init.body) as {
        changes: { id: string; deleted?: boolean; content?: Record<string, unknown> }[];
      };
      res
        .clone()
        .json()
        .then(async (body) => {
          const reply = body as { accepted: { id: string }[] };
          for (const a of reply.accepted) {
            const c = sent.changes.find((x) => x.id === a.id);
            if (!c) continue;
            const d = decode();
            const content = c.content && d ? await d(c.id, c.content) : (c.content ?? null);
            accepted.add(`${c.id}|${keyOf(content, c.deleted === true)}`);
          }
        })
        .catch(() => {}); // cut mid-response: the resend with the same key answers the same
    }
    return res;
  }) as typeof fetch;
}

export interface Scenario {
  stack: TestStack;
  dir: string;
  encrypted?: { passphrase: string; next: string };
}

/** Retries a call through the faulty proxy while it fails for want of an answer. */
async function persist<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof JournalError && err.transient) || attempt >= 30) throw err;
    }
  }
}

async function serverState(s: Scenario, username: string, passphrase?: string) {
  const observer = new JournalClient({ baseUrl: s.stack.gateway });
  await observer.auth.login({ username, password: PASSWORD });
  if (passphrase) await observer.encryption.unlock(passphrase);
  await observer.sync.syncNow(10);
  const out = new Map<string, string>();
  for (const e of await observer.entries.list()) out.set(e.id, keyOf(e.content, false));
  await observer.auth.logout();
  await observer.close();
  return out;
}

/** The account's keys as the test reads them (to compare what devices pushed). */
async function accountDecoder(
  s: Scenario,
  tokens: MemoryTokenStore,
  passphrase: string,
): Promise<Decode> {
  const t = tokens.get();
  if (!t) throw new Error('not signed in');
  const res = await fetch(`${s.stack.gateway}/auth/encryption`, {
    headers: { authorization: `Bearer ${t.accessToken}` },
  });
  const { bundle } = (await res.json()) as { bundle: Parameters<typeof unlockWithPassphrase>[1] };
  const keys = await unlockWithPassphrase(t.user.id, bundle, passphrase);
  return async (id, content) =>
    isEnvelope(content) ? decryptEntry(keys, id, content).content : content;
}

export const stats = { runs: 0, ops: 0, cuts: 0, connections: 0, entries: 0, conflicts: 0 };

export async function runScenario(s: Scenario, ops: Op[], faultSeed: number, run: number) {
  const username = uniqueUser('conv');
  const ownerTokens = new MemoryTokenStore();
  const owner = new JournalClient({ baseUrl: s.stack.gateway, tokenStore: ownerTokens });
  await owner.auth.register({ username, password: PASSWORD });
  let decode: Decode | undefined;
  let passphrase = s.encrypted?.passphrase;
  if (s.encrypted) {
    await owner.encryption.enable({ passphrase: s.encrypted.passphrase });
    await owner.encryption.resume();
    decode = await accountDecoder(s, ownerTokens, s.encrypted.passphrase);
  }
  await owner.close();
  const random = rng(faultSeed);
  const proxy = await new FaultProxy(hostPort(s.stack.gateway), () => {
    if (random() >= 0.5) return undefined;
    const bytes = Math.floor(random() * 1500);
    return random() < 0.5 ? { upAfter: bytes } : { downAfter: bytes };
  }).listen();
  const stores: (() => LocalStore)[] = [
    () => new MemoryStore(),
    () => new IndexedDbStore(`conv-${run}`, new IDBFactory()),
    () => new SqliteStore(join(s.dir, `conv-${run}-${faultSeed}.db`)),
    () => new MemoryStore(),
    () => new IndexedDbStore(`conv-${run}-b`, new IDBFactory()),
  ];
  const devices: Device[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const tokenStore = new MemoryTokenStore();
    await new JournalClient({ baseUrl: s.stack.gateway, tokenStore }).auth.login({
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
      fetch: recordingFetch(accepted, () => decode),
      timeoutMs: 10_000,
      sync: { waitSeconds: 2, minBackoffMs: 20, maxBackoffMs: 400 },
    });
    if (passphrase) await persist(() => client.encryption.unlock(passphrase as string));
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
    for (const [index, op] of ops.entries()) {
      if (s.encrypted && index === Math.floor(ops.length / 2)) {
        // Half-way, device 0 changes the passphrase while every other device is offline.
        for (const d of devices.slice(1)) d.client.sync.setOnline(false);
        const changer = (devices[0] as Device).client;
        const next = s.encrypted.next;
        await persist(async () => {
          try {
            await changer.encryption.changePassphrase(s.encrypted?.passphrase as string, next);
          } catch (err) {
            // An answer cut after the write: the old passphrase no longer opens the bundle.
            if (!(err instanceof JournalError && err.code === 'wrong_passphrase')) throw err;
          }
        });
        passphrase = next;
      }
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
    const server = await serverState(s, username, passphrase);
    for (const [i, d] of devices.entries()) {
      expect(await d.client.entries.pendingCount(), `device ${i} pending`).toBe(0);
      const local = new Map(
        (await d.client.entries.list()).map((e) => [e.id, keyOf(e.content, false)]),
      );
      expect(local, `device ${i} equals the server`).toEqual(server);
      expect(d.client.conflicts.list()).toEqual([]);
      if (s.encrypted) {
        // Nobody was asked for the new passphrase; nothing failed to decrypt.
        expect(d.client.encryption.state, `device ${i} unlocked`).toBe('unlocked');
        expect(d.client.encryption.failures()).toEqual([]);
      }
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
    stats.conflicts += devices.reduce((sum, d) => sum + d.conflicted.size, 0);
  } finally {
    await Promise.all(devices.map((d) => d.client.close()));
    await proxy.close();
  }
}
