import {
  type Collection,
  type Db,
  type Document,
  type IndexDescription,
  MongoBulkWriteError,
  MongoServerError,
} from 'mongodb';
import type { ReadinessCheck } from './health.js';
import { pingMongo } from './mongo.js';
import { pingRedis, type Redis } from './redis.js';

/** The name MongoDB gives an index without an explicit one, e.g. `owner_1_id_1`. */
export function indexName(index: IndexDescription): string {
  if (index.name) return index.name;
  return Object.entries(index.key as Record<string, unknown>)
    .map(([field, direction]) => `${field}_${String(direction)}`)
    .join('_');
}

/** The name of the plain index made instead of a TTL index the server cannot make. */
export function cleanupIndexName(index: IndexDescription): string {
  return `${indexName(index).replace(/_ttl$/, '')}_cleanup`;
}

function ttlUnsupported(err: unknown): boolean {
  return /not implemented|expireAfterSeconds/i.test(String(err));
}

/**
 * Creates the indexes that don't exist yet; safe to call on every start-up and on every
 * replica at once. Only missing ones are sent, one at a time, because FerretDB 1.x drops the
 * connection when a batch re-creates an existing unique index.
 *
 * Time-to-live options are clean-up only (never correctness, see docs/architecture.md). A server
 * without TTL indexes (FerretDB 1.x) gets a plain index on the same key instead, named
 * `<name>_cleanup` (`expiresAt_ttl` → `expiresAt_cleanup`), and later start-ups see that
 * decision by name (FerretDB drops the connection when asked for a TTL index on a key that
 * already has a plain one). Resolves `true` when the server expires documents itself for every
 * TTL index asked for (or none was), `false` when the service must `purgeExpired` itself.
 */
export async function ensureIndexes<T extends Document>(
  collection: Collection<T>,
  indexes: IndexDescription[],
): Promise<boolean> {
  if (indexes.length === 0) return true;
  const existing = new Set(
    (
      await collection
        .listIndexes()
        .toArray()
        .catch(() => [] as { name?: string }[])
    ).map((i) => i.name),
  );
  let serverExpires = true;
  for (const index of indexes) {
    const ttl = index.expireAfterSeconds !== undefined;
    if (existing.has(indexName(index))) continue;
    if (ttl && existing.has(cleanupIndexName(index))) {
      serverExpires = false;
      continue;
    }
    try {
      await collection.createIndexes([index]);
    } catch (err) {
      if (!ttl || !ttlUnsupported(err)) throw err;
      const { expireAfterSeconds: _ttl, ...plain } = index;
      await collection.createIndexes([{ ...plain, name: cleanupIndexName(index) }]);
      serverExpires = false;
    }
  }
  return serverExpires;
}

/**
 * Deletes documents whose `field` is more than `expireAfterSeconds` in the past: the job of a
 * TTL index, for servers that have none (see `ensureIndexes`).
 */
export async function purgeExpired<T extends Document>(
  collection: Collection<T>,
  field: string,
  expireAfterSeconds: number,
): Promise<number> {
  const cutoff = new Date(Date.now() - expireAfterSeconds * 1000);
  const result = await (collection as unknown as Collection).deleteMany({
    [field]: { $lt: cutoff },
  });
  return result.deletedCount;
}

/**
 * True when a write failed only on a unique index (E11000): for a single write, or for a
 * bulk insert whose every failed document was a duplicate. Insert-only records use this as
 * their "someone was first" answer.
 */
export function isDuplicateKey(err: unknown): boolean {
  // A write-concern error means the writes may not last (a failover can roll them back): never
  // "only a duplicate", whatever else came with it. The caller lets it through: 503, retry.
  if (hasWriteConcernError(err)) return false;
  if (err instanceof MongoBulkWriteError) {
    const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
    return errors.length > 0 && errors.every((e) => e.code === 11000);
  }
  return err instanceof MongoServerError && err.code === 11000;
}

/** True when a write's error carries a write-concern error (alone, or beside write errors). */
export function hasWriteConcernError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MongoWriteConcernError') return true;
  // The driver's MongoBulkWriteError keeps a write-concern error in `err` when it came alone,
  // and only in its `result` when write errors (a duplicate key) came with it.
  const bulk = err as Error & {
    err?: { name?: string; constructor?: { name?: string } };
    result?: { getWriteConcernError?: () => unknown };
    errorResponse?: { writeConcernError?: unknown };
  };
  return (
    bulk.err?.constructor?.name === 'WriteConcernError' ||
    (typeof bulk.result?.getWriteConcernError === 'function' &&
      bulk.result.getWriteConcernError() !== undefined) ||
    bulk.errorResponse?.writeConcernError !== undefined
  );
}

/** GET /ready's checks for a service that keeps data: MongoDB and Redis answer a ping. */
export function storageChecks(db: Db, redis: Redis): Record<string, ReadinessCheck> {
  return {
    mongodb: () => pingMongo(db),
    redis: () => pingRedis(redis),
  };
}
