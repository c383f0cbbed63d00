import { ensureIndexes } from '@journal/shared';
import { type Collection, MongoServerError } from 'mongodb';
import { indexNames } from './indexes.js';

/**
 * Creates a TTL index on `field` for clean-up (never for correctness: expiry is checked in
 * code). FerretDB 1.x does not implement TTL indexes; there a plain index is created instead
 * and the caller purges expired documents itself (see `purgeExpired`). Returns whether the
 * server removes expired documents on its own.
 */
export async function ensureTtlIndex(
  collection: Collection<never>,
  field: string,
  expireAfterSeconds: number,
): Promise<boolean> {
  // Decided on an earlier start-up already? (FerretDB drops the connection when asked for a TTL
  // index on a key that already has a plain one.)
  const names = await indexNames(collection);
  if (names.has(`${field}_ttl`)) return true;
  if (names.has(`${field}_cleanup`)) return false;
  try {
    await ensureIndexes(collection, [
      { key: { [field]: 1 }, name: `${field}_ttl`, expireAfterSeconds },
    ]);
    return true;
  } catch (err) {
    if (
      !(err instanceof MongoServerError) ||
      !/expireAfterSeconds|not implemented/i.test(err.message)
    ) {
      throw err;
    }
    await ensureIndexes(collection, [{ key: { [field]: 1 }, name: `${field}_cleanup` }]);
    return false;
  }
}

/** Deletes documents whose `field` is older than `expireAfterSeconds` (the TTL index's job). */
export async function purgeExpired(
  collection: Collection<never>,
  field: string,
  expireAfterSeconds: number,
): Promise<number> {
  const cutoff = new Date(Date.now() - expireAfterSeconds * 1000);
  const result = await (collection as unknown as Collection).deleteMany({
    [field]: { $lt: cutoff },
  });
  return result.deletedCount;
}
