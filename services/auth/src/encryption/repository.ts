import {
  ACCOUNT_ENCRYPTION_COLLECTION,
  type AccountEncryptionDoc,
  type BundleWrite,
  ensureIndexes,
  isDuplicateKey,
} from '@journal/shared';
import type { Db } from 'mongodb';

/**
 * One version of an account's key bundle (docs/encryption.md, "Server side"). Insert-only:
 * `_id` is `<userId>:<version>`, so of two writers of one version exactly one insert succeeds
 * (the store has no atomic update to swap with). The current bundle is the highest version;
 * lower ones are deleted once a higher one is in.
 */
export interface BundleDoc extends Omit<BundleWrite, 'migration'> {
  _id: string;
  userId: string;
  version: number;
  migration: { deviceId: string; leaseExpiresAt: Date } | null;
  createdAt: Date;
  updatedAt: Date;
}

export const BUNDLES_COLLECTION = 'encryption_bundles';

export function bundleId(userId: string, version: number): string {
  return `${userId}:${version}`;
}

export function createBundlesRepository(db: Db) {
  const bundles = db.collection<BundleDoc>(BUNDLES_COLLECTION);
  const accounts = db.collection<AccountEncryptionDoc>(ACCOUNT_ENCRYPTION_COLLECTION);

  return {
    async ensureIndexes(): Promise<void> {
      await ensureIndexes(bundles, [{ key: { userId: 1, version: -1 }, name: 'user_version' }]);
    },

    /** The user's current bundle (highest version), or null. One query on `user_version`. */
    async current(userId: string): Promise<BundleDoc | null> {
      const [doc] = await bundles
        .find({ userId })
        .sort({ userId: 1, version: -1 })
        .limit(1)
        .toArray();
      return doc ?? null;
    },

    /** Inserts a version; false when that version exists already (another writer was first). */
    async insert(doc: BundleDoc): Promise<boolean> {
      try {
        await bundles.insertOne(doc);
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },

    /** Deletes the user's versions below `version` (older wrappings must not linger). */
    async deleteBelow(userId: string, version: number): Promise<number> {
      const result = await bundles.deleteMany({ userId, version: { $lt: version } });
      return result.deletedCount;
    },

    /**
     * Records that the account is encrypted (what sync and attachments read); a record that
     * exists already is kept, with its first `since`.
     */
    async markEncrypted(userId: string, since: Date): Promise<void> {
      try {
        await accounts.insertOne({ _id: userId, since });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    },

    /** Account deletion: every bundle version of the user and its encryption record. */
    async deleteUser(userId: string): Promise<void> {
      await bundles.deleteMany({ userId });
      await accounts.deleteOne({ _id: userId });
    },
  };
}

export type BundlesRepository = ReturnType<typeof createBundlesRepository>;
