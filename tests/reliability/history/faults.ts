import { parseSyncHead, syncHeadKey } from '@journal/shared';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';
import type { Prng } from './model.js';
import { sleep } from './model.js';
import type { Workload } from './workload.js';

/**
 * The faults the history checker injects while the workload runs, each counted. The backup and
 * restore is a phase of its own (history.test.ts).
 */

export const FAULTS = [
  'redis-restart',
  'head-above-store',
  'redis-reads-failing',
  'sync-sigkill-mid-push',
  'store-restart',
] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultTargets {
  redis: { stop(): Promise<void>; start(): Promise<void> };
  mongo: { stop(): Promise<void>; start(): Promise<void> };
  /** SIGKILL sync (after a last metrics scrape) and start it again on the same ports. */
  killSync(): Promise<void>;
  restartSync(): Promise<void>;
  /** A plain client (no key prefix) on the run's own Redis. */
  admin: Redis;
  keyPrefix: string;
  db: Db;
  userId: string;
}

/** What each injection did, for the report and the "it happened" assertions. */
export interface FaultLog {
  counts: Record<Fault, number>;
  /** Connections `CLIENT KILL TYPE normal` closed while pages were being read. */
  redisConnectionsKilled: number;
  /** Pushes in flight when sync was SIGKILLed (each kill needs at least one). */
  pushesInFlightAtKill: number[];
  /** The heads set above the store: [store max, head set]. */
  headsAbove: [number, number][];
  events: string[];
}

export function newFaultLog(): FaultLog {
  return {
    counts: Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>,
    redisConnectionsKilled: 0,
    pushesInFlightAtKill: [],
    headsAbove: [],
    events: [],
  };
}

export async function storeMax(db: Db, userId: string): Promise<number> {
  const [doc] = await db
    .collection('entry_versions')
    .find({ userId }, { projection: { _id: 0, revision: 1 } })
    .sort({ userId: -1, revision: -1 })
    .limit(1)
    .toArray();
  return (doc?.revision as number | undefined) ?? 0;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`history faults: ${what} within ${ms} ms`);
    await sleep(5);
  }
}

/**
 * Sets the user's head five above the store's highest revision, in the format the code reads
 * now (`parseSyncHead`): `<revision>:<observedAt>`, keeping any further `:` parts the current
 * value has (a generation). Checked by parsing it back.
 */
async function headAboveStore(t: FaultTargets, log: FaultLog): Promise<void> {
  const key = `${t.keyPrefix}${syncHeadKey(t.userId)}`;
  let current: string | null = null;
  await until('a head in Redis to copy the format of', async () => {
    current = await t.admin.get(key).catch(() => null);
    return current !== null;
  });
  const max = await storeMax(t.db, t.userId);
  const rest = (current as string | null)?.split(':').slice(2) ?? [];
  const value = [String(max + 5), String(Date.now()), ...rest].join(':');
  if (parseSyncHead(value)?.revision !== max + 5)
    throw new Error(`history faults: the head format changed; ${value} does not parse`);
  await t.admin.set(key, value);
  log.headsAbove.push([max, max + 5]);
}

/**
 * Sync's command connections closed every few ms for `ms`: reads in flight fail (head and recent
 * changes read as misses), ioredis reconnects. SKIPME (the default) keeps ours.
 */
async function cutConnections(t: FaultTargets, log: FaultLog, rng: Prng, ms: number) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const killed = await t.admin.client('KILL', 'TYPE', 'normal').catch(() => 0);
    log.redisConnectionsKilled += Number(killed);
    await sleep(20 + rng.int(60));
  }
}

export async function inject(
  fault: Fault,
  t: FaultTargets,
  w: Workload,
  log: FaultLog,
  rng: Prng,
): Promise<void> {
  const started = Date.now();
  switch (fault) {
    case 'redis-restart':
      await t.redis.stop();
      await sleep(500 + rng.int(1000));
      await t.redis.start();
      break;
    case 'head-above-store':
      // Then some pushes guess above the head while others, their head read failing, take the
      // store's highest revision: the race of a revision inserted into a hole (issue 24, 1).
      await headAboveStore(t, log);
      await cutConnections(t, log, rng, 1_000);
      break;
    case 'redis-reads-failing':
      await cutConnections(t, log, rng, 2_000);
      break;
    case 'sync-sigkill-mid-push':
      await until('a push in flight', () => w.inFlight > 0);
      log.pushesInFlightAtKill.push(w.inFlight);
      await t.killSync();
      await sleep(200 + rng.int(500));
      await t.restartSync();
      break;
    case 'store-restart':
      await t.mongo.stop();
      await sleep(500 + rng.int(1000));
      await t.mongo.start();
      break;
  }
  log.counts[fault]++;
  log.events.push(`${fault} at ${started} (${Date.now() - started} ms)`);
}

/**
 * Runs every fault `rounds` times, in an order the seed shuffles each round, spread evenly over
 * the workload's pushes; then marks the workload's faults done.
 */
export async function runFaults(
  t: FaultTargets,
  w: Workload,
  log: FaultLog,
  rng: Prng,
  rounds: number,
): Promise<void> {
  const plan = Array.from({ length: rounds }, () => rng.shuffle(FAULTS)).flat();
  const every = Math.max(5, Math.floor(w.ops / (plan.length + 1)));
  try {
    for (const [i, fault] of plan.entries()) {
      await until(
        `${every * (i + 1)} pushes`,
        () => {
          if (w.violations.length > 0) throw new Error(`workload failed: ${w.violations[0]}`);
          return w.counters.pushes >= every * (i + 1);
        },
        300_000,
      );
      await inject(fault, t, w, log, rng);
    }
  } finally {
    w.faultsDone = true;
  }
}

/** Sums `name{labels}` samples of a Prometheus text exposition by their `outcome` label. */
export function parseCounters(text: string, names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)$/.exec(line);
    if (!m || !names.includes(m[1] as string)) continue;
    const outcome = /outcome="([^"]*)"/.exec(m[2] ?? '')?.[1];
    const name = outcome ? `${m[1]}{${outcome}}` : (m[1] as string);
    out[name] = (out[name] ?? 0) + Number(m[3]);
  }
  return out;
}
