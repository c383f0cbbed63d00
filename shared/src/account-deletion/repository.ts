import type { Db } from 'mongodb';
import { ensureIndexes, isDuplicateKey } from '../storage.js';
import { type AccountDeletionDoc, DELETION_SERVICES, type DeletionService } from './config.js';

/**
 * The deletion records in MongoDB (docs/account-deletion.md): auth inserts one record per deleted
 * user into `account_deletions` before it answers 202; each service that keeps user data inserts
 * a completion record `account_deletion_done` (unique `_id` = `<service>:<userId>`) once it has
 * deleted that user's data. Once every service has completed a deletion, any sweeper retires it
 * (the records themselves carry the user id, so they go too). Everything is an insert or a
 * delete: nothing depends on an atomic update, which FerretDB 1.24 does not have.
 */

interface DeletionDoneDoc {
  /** `<service>:<userId>`: one completion per service and user. */
  _id: string;
  userId: string;
  service: string;
  completedAt: Date;
}

const RECORDS_PER_PASS = 1000;

export function createAccountDeletions(db: Db) {
  const records = db.collection<AccountDeletionDoc>('account_deletions');
  const done = db.collection<DeletionDoneDoc>('account_deletion_done');

  return {
    async ensureIndexes(): Promise<void> {
      await ensureIndexes(records, [{ key: { requestedAt: 1 }, name: 'requestedAt' }]);
      await ensureIndexes(done, [{ key: { userId: 1 }, name: 'userId' }]);
    },

    /** Records the deletion; idempotent: a repeat returns the first request's time. */
    async request(userId: string, usernameLower: string): Promise<Date> {
      const requestedAt = new Date();
      try {
        await records.insertOne({ _id: userId, requestedAt, usernameLower });
        return requestedAt;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const existing = await records.findOne({ _id: userId });
        return existing?.requestedAt ?? requestedAt;
      }
    },

    /** True while a deletion of `userId` is under way (not retired yet). */
    async isDeleted(userId: string): Promise<boolean> {
      return (await records.findOne({ _id: userId }, { projection: { _id: 1 } })) !== null;
    },

    /** Deletions `service` has not completed, oldest first. */
    async pending(service: DeletionService): Promise<AccountDeletionDoc[]> {
      const open = await records
        .find({})
        .sort({ requestedAt: 1 })
        .limit(RECORDS_PER_PASS)
        .toArray();
      if (open.length === 0) return [];
      const completed = await done
        .find({ _id: { $in: open.map((r) => `${service}:${r._id}`) } }, { projection: { _id: 1 } })
        .toArray();
      const ids = new Set(completed.map((d) => d._id));
      return open.filter((r) => !ids.has(`${service}:${r._id}`));
    },

    /** Records that `service` has deleted everything of `userId`; idempotent. */
    async complete(userId: string, service: DeletionService): Promise<void> {
      try {
        await done.insertOne({
          _id: `${service}:${userId}`,
          userId,
          service,
          completedAt: new Date(),
        });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    },

    /**
     * Removes deletions every service has completed (record first, then its completions), and
     * completions whose deletion is gone (a replica that finished late). Returns how many
     * deletions were retired.
     */
    async retire(): Promise<number> {
      const open = await records
        .find({}, { projection: { _id: 1 } })
        .limit(RECORDS_PER_PASS)
        .toArray();
      const openIds = new Set(open.map((r) => r._id));
      const completions = await done
        .find({}, { projection: { _id: 1, userId: 1 } })
        .limit(RECORDS_PER_PASS * DELETION_SERVICES.length)
        .toArray();
      const count = new Map<string, number>();
      const orphans: string[] = [];
      for (const c of completions) {
        if (openIds.has(c.userId)) count.set(c.userId, (count.get(c.userId) ?? 0) + 1);
        else orphans.push(c._id);
      }
      const finished = [...count]
        .filter(([, n]) => n >= DELETION_SERVICES.length)
        .map(([id]) => id);
      if (finished.length > 0) {
        await records.deleteMany({ _id: { $in: finished } });
        await done.deleteMany({ userId: { $in: finished } });
      }
      // An orphan may also be a completion inserted between the two reads above for a record
      // created meanwhile: only those whose record is really gone are removed.
      if (orphans.length > 0) {
        const stillOpen = await records
          .find(
            {
              _id: { $in: completions.filter((c) => orphans.includes(c._id)).map((c) => c.userId) },
            },
            { projection: { _id: 1 } },
          )
          .toArray();
        const keep = new Set(stillOpen.map((r) => r._id));
        const gone = completions.filter((c) => orphans.includes(c._id) && !keep.has(c.userId));
        if (gone.length > 0) await done.deleteMany({ _id: { $in: gone.map((c) => c._id) } });
      }
      return finished.length;
    },

    /** How many deletions are open (not yet completed by every service). */
    async openCount(): Promise<number> {
      return records.countDocuments({});
    },

    /** When the oldest deletion not yet completed by every service was requested. */
    async oldestOpen(): Promise<Date | null> {
      const [oldest] = await records
        .find({}, { projection: { requestedAt: 1 } })
        .sort({ requestedAt: 1 })
        .limit(1)
        .toArray();
      return oldest?.requestedAt ?? null;
    },
  };
}

export type AccountDeletions = ReturnType<typeof createAccountDeletions>;
