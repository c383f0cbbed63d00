import {
  type Collection,
  type Db,
  type Document,
  type IndexDescription,
  MongoClient,
} from 'mongodb';
import type { Logger } from './logger.js';

export interface MongoConnectOptions {
  dbName: string;
  logger?: Logger;
  /** How long to keep retrying the first connection before giving up. */
  connectTimeoutMs?: number;
  /** Passed to the driver, e.g. `{ monitorCommands: true }` in tests. */
  clientOptions?: ConstructorParameters<typeof MongoClient>[1];
}

export interface MongoHandle {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
      ...options.clientOptions,
    });
    try {
      await client.connect();
      const db = client.db(options.dbName);
      await db.command({ ping: 1 });
      return { client, db, close: () => client.close() };
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

/** The name MongoDB gives an index without an explicit one, e.g. `owner_1_id_1`. */
function indexName(index: IndexDescription): string {
  if (index.name) return index.name;
  return Object.entries(index.key as Record<string, unknown>)
    .map(([field, direction]) => `${field}_${String(direction)}`)
    .join('_');
}

/**
 * Creates the indexes that don't exist yet; safe to call on every start-up and on every
 * replica at once. Only missing ones are sent because FerretDB 1.x drops the connection when
 * a batch re-creates an existing unique index. Time-to-live options are clean-up only (never
 * correctness, see ARCHITECTURE.md): on a server without TTL support the index is created
 * without them and expired documents must be purged by the service.
 */
export async function ensureIndexes<T extends Document>(
  collection: Collection<T>,
  indexes: IndexDescription[],
): Promise<void> {
  if (indexes.length === 0) return;
  const existing = new Set(
    (
      await collection
        .listIndexes()
        .toArray()
        .catch(() => [] as { name?: string }[])
    ).map((i) => i.name),
  );
  const missing = indexes.filter((index) => !existing.has(indexName(index)));
  for (const index of missing) {
    try {
      await collection.createIndexes([index]);
    } catch (err) {
      if (
        index.expireAfterSeconds === undefined ||
        !/not implemented|expireAfterSeconds/i.test(String(err))
      ) {
        throw err;
      }
      const { expireAfterSeconds: _ttl, ...withoutTtl } = index;
      await collection.createIndexes([withoutTtl]);
    }
  }
}

export async function pingMongo(db: Db): Promise<void> {
  await db.command({ ping: 1 });
}
