import type { Db } from 'mongodb';

/**
 * Whether an account is end-to-end encrypted (docs/encryption.md): auth inserts
 * `account_encryption` `{ _id: userId, since }` when it stores the account's first key bundle,
 * and only account deletion removes it. Sync and attachments read it to refuse plaintext.
 */
export const ACCOUNT_ENCRYPTION_COLLECTION = 'account_encryption';

export interface AccountEncryptionDoc {
  _id: string;
  since: Date;
}

/** Accounts remembered as encrypted per process and database (about 100 bytes each). */
export const ENCRYPTED_ACCOUNTS_CACHED = 50_000;

/**
 * Positives only, per database (tests run several databases in one process): a positive never
 * turns negative except by account deletion, after which the user's tokens no longer pass and
 * user ids are never reused. A negative is never cached, so an account is refused plaintext
 * from the moment its record exists; a plaintext write of an account without encryption costs
 * one lookup by `_id`.
 */
const caches = new WeakMap<Db, Map<string, true>>();

function cacheOf(db: Db): Map<string, true> {
  let cache = caches.get(db);
  if (!cache) {
    cache = new Map();
    caches.set(db, cache);
  }
  return cache;
}

/** True once the account has turned end-to-end encryption on. */
export async function encryptionRequired(db: Db, userId: string): Promise<boolean> {
  const cache = cacheOf(db);
  if (cache.has(userId)) {
    // Most recently used last: the oldest is the one dropped when the cache is full.
    cache.delete(userId);
    cache.set(userId, true);
    return true;
  }
  const found = await db
    .collection<AccountEncryptionDoc>(ACCOUNT_ENCRYPTION_COLLECTION)
    .findOne({ _id: userId }, { projection: { _id: 1 } });
  if (!found) return false;
  if (cache.size >= ENCRYPTED_ACCOUNTS_CACHED) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(userId, true);
  return true;
}
