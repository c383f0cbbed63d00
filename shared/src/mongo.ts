import { type Collection, type Db, type IndexDescription, MongoClient } from 'mongodb';
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

/**
 * Creates indexes; safe to call on every start-up and on every replica at once
 * (createIndexes is a no-op for an index that already exists with the same definition).
 */
export async function ensureIndexes(
  collection: Collection<never> | Collection,
  indexes: IndexDescription[],
): Promise<void> {
  if (indexes.length === 0) return;
  await (collection as Collection).createIndexes(indexes);
}

export async function pingMongo(db: Db): Promise<void> {
  await db.command({ ping: 1 });
}
