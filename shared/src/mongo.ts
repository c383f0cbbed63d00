import { type Db, MongoClient, type TopologyDescriptionChangedEvent } from 'mongodb';
import type { Logger } from './logger.js';

export interface MongoConnectOptions {
  dbName: string;
  logger?: Logger;
  /** How long to keep retrying the first connection before giving up. */
  connectTimeoutMs?: number;
  /** Passed to the driver, e.g. `{ monitorCommands: true }` in tests. */
  clientOptions?: ConstructorParameters<typeof MongoClient>[1];
  /** The watchdog's patience (see `watchTopology`); 10 s by default, 0 turns it off. */
  stuckAfterMs?: number;
}

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Replica-set settings, explicit rather than left to the driver's or the URL's defaults
 * (docs/scaling.md). On a single server or FerretDB they change nothing.
 * - `w: 'majority'`: a write is acknowledged once a majority of the replica set has it, so a
 *   failover never rolls back an acknowledged push, session or attachment record.
 * - `retryWrites` / `retryReads`: one automatic retry of an operation that met a primary
 *   stepping down (every write here is an insert, an idempotent update or a delete, so a retry
 *   is safe); the caller sees the failover as latency instead of an error.
 * - `readPreference: 'primary'`: every read, the change feed's above all, sees every write the
 *   service was told about (a secondary may lag and would hide a just-pushed revision).
 * - `readConcern: 'majority'`: a read returns only what a majority has, so a pull can never
 *   hand a device (or a head in Redis) a revision that a failover then rolls back; with
 *   `w: 'majority'` every acknowledged write is already visible to it (docs/sync.md).
 */
export const MONGO_REPLICA_SET_OPTIONS = {
  writeConcern: { w: 'majority' },
  readConcern: { level: 'majority' },
  retryWrites: true,
  retryReads: true,
  readPreference: 'primary',
} as const satisfies ConstructorParameters<typeof MongoClient>[1];

/**
 * Connects to MongoDB, retrying with capped exponential back-off while the server is not yet
 * up (a pod often starts before its database). Throws after `connectTimeoutMs`.
 */
export async function connectMongo(
  url: string,
  options: MongoConnectOptions,
): Promise<MongoHandle> {
  const deadline = Date.now() + (options.connectTimeoutMs ?? 60_000);
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    const client = new MongoClient(url, {
      serverSelectionTimeoutMS: 5_000,
      connectTimeoutMS: 5_000,
      appName: 'journal',
      ...MONGO_REPLICA_SET_OPTIONS,
      ...options.clientOptions,
    });
    try {
      await client.connect();
      const db = client.db(options.dbName);
      await db.command({ ping: 1 });
      const watchdog = watchTopology(client, url, options);
      return {
        client,
        db,
        close: async () => {
          watchdog.stop();
          await client.close();
        },
      };
    } catch (err) {
      await client.close().catch(() => {});
      if (Date.now() + delay > deadline) throw err;
      options.logger?.warn(
        { attempt, err: (err as Error).message },
        'MongoDB not reachable yet, retrying',
      );
      await sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }
}

/**
 * Revives a client whose view of the server stays down after the server came back. Seen with
 * FerretDB restarts under load (driver 6 and 7 alike): the server closes connections shortly
 * after it is back, the driver marks it Unknown, and its monitor's next check never completes,
 * so every operation fails server selection for good while a new client connects at once.
 * When no data-bearing server has been known for `stuckAfterMs`, a throwaway client pings the
 * same URL; if that works, the client is closed and connected again (collections and
 * databases taken from it keep working). A server that is really down is left alone.
 */
function watchTopology(client: MongoClient, url: string, options: MongoConnectOptions) {
  const stuckAfterMs = options.stuckAfterMs ?? 10_000;
  if (stuckAfterMs <= 0) return { stop() {} };
  let downSince: number | undefined;
  let reviving = false;
  let stopped = false;
  const onChange = (event: TopologyDescriptionChangedEvent) => {
    if (event.newDescription.hasDataBearingServers) downSince = undefined;
    else downSince ??= Date.now();
  };
  client.on('topologyDescriptionChanged', onChange);

  /** True when a throwaway client reaches the server (so the server is up, not our view). */
  async function reachable(): Promise<boolean> {
    const probe = new MongoClient(url, {
      ...options.clientOptions,
      monitorCommands: false,
      serverSelectionTimeoutMS: 2_000,
      connectTimeoutMS: 2_000,
    });
    try {
      await probe.db('admin').command({ ping: 1 });
      return true;
    } catch {
      return false;
    } finally {
      await probe.close().catch(() => {});
    }
  }

  async function check(): Promise<void> {
    if (stopped || reviving || downSince === undefined || Date.now() - downSince < stuckAfterMs)
      return;
    reviving = true;
    try {
      // Really down: wait another period before probing again.
      if (!(await reachable()) || stopped) {
        downSince = Date.now();
        return;
      }
      options.logger?.warn('MongoDB is reachable but the client still sees it down; reconnecting');
      await client.close();
      await client.connect();
      downSince = undefined;
    } catch (err) {
      options.logger?.warn({ err: (err as Error).message }, 'MongoDB reconnect failed');
      downSince = Date.now();
    } finally {
      reviving = false;
    }
  }

  const timer = setInterval(
    () => {
      void check();
    },
    Math.max(250, Math.min(2_000, stuckAfterMs / 2)),
  );
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      client.off('topologyDescriptionChanged', onChange);
    },
  };
}

export async function pingMongo(db: Db): Promise<void> {
  await db.command({ ping: 1 });
}
