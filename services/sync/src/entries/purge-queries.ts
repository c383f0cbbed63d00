import type { Collection } from 'mongodb';
import type { PurgeDoc, VersionDoc } from './repository.js';

/**
 * The entries repository's queries for removing versions: the tombstone and superseded-version
 * purge (purge/purger.ts) and account deletion. Part of `createEntriesRepository`.
 */
export function purgeQueries(versions: Collection<VersionDoc>, purges: Collection<PurgeDoc>) {
  return {
    /** Tombstones (current versions) last written before `cutoff`, oldest first. */
    expiredTombstones(cutoff: Date, limit: number) {
      return versions
        .find(
          { deleted: true, superseded: { $ne: true }, updatedAt: { $lt: cutoff } },
          { projection: { _id: 0, userId: 1, id: 1, revision: 1 } },
        )
        .limit(limit)
        .toArray();
    },

    /** Records the horizon before anything below it is deleted (see docs/sync.md). */
    async recordPurge(userId: string, purgedThrough: number): Promise<void> {
      await purges.insertOne({ userId, purgedThrough, at: new Date() });
    },

    /** Deletes each entry's versions up to the given revision. One command. */
    async deleteThrough(userId: string, entries: { id: string; revision: number }[]) {
      if (entries.length === 0) return 0;
      const result = await versions.bulkWrite(
        entries.map((entry) => ({
          deleteMany: { filter: { userId, id: entry.id, revision: { $lte: entry.revision } } },
        })),
        { ordered: false },
      );
      return result.deletedCount;
    },

    /**
     * Deletes up to `batch` of the user's versions (entries, tombstones, superseded) and, once
     * none is left, the user's purge records (account deletion). Returns how many versions
     * went; call again until 0.
     */
    async deleteUser(userId: string, batch = 1000): Promise<number> {
      // The batch is a revision range on `user_revision` (cheap on MongoDB and FerretDB alike).
      const [last] = await versions
        .find({ userId }, { projection: { _id: 0, revision: 1 } })
        .sort({ userId: 1, revision: 1 })
        .skip(batch - 1)
        .limit(1)
        .toArray();
      const filter = last ? { userId, revision: { $lte: last.revision } } : { userId };
      const result = await versions.deleteMany(filter);
      if (result.deletedCount === 0) await purges.deleteMany({ userId });
      return result.deletedCount;
    },

    /**
     * Superseded versions (never served) superseded before `cutoff`, except an entry's first
     * version (base 0): its `(userId, id, 0)` slot is what refuses a second "new" entry with
     * the same id to a push that guesses (docs/sync.md). It goes with the entry's tombstone.
     */
    async deleteSuperseded(cutoff: Date, batch = 1000): Promise<number> {
      const old = {
        superseded: true as const,
        supersededAt: { $lt: cutoff },
        baseRevision: { $gt: 0 },
      };
      let deleted = 0;
      for (let before = -1; before < deleted; ) {
        before = deleted;
        const docs = await versions
          .find(old, { projection: { _id: 0, userId: 1, revision: 1 } })
          .limit(batch)
          .toArray();
        const byUser = new Map<string, number[]>();
        for (const doc of docs)
          byUser.set(doc.userId, [...(byUser.get(doc.userId) ?? []), doc.revision]);
        for (const [userId, revisions] of byUser) {
          // The holes horizon first: a pull meeting these holes knows they can never fill.
          const purgedThrough = Math.max(...revisions);
          await purges.insertOne({ userId, purgedThrough, at: new Date(), holes: true });
          const result = await versions.deleteMany({
            ...old,
            userId,
            revision: { $in: revisions },
          });
          deleted += result.deletedCount;
        }
        if (docs.length < batch) break;
      }
      // The first version stays as a stub: its content (kept for the entry's history until
      // now) is dropped.
      await versions.updateMany(
        {
          superseded: true,
          supersededAt: { $lt: cutoff },
          baseRevision: 0,
          content: { $ne: null },
        },
        { $set: { content: null } },
      );
      return deleted;
    },

    /**
     * Of `entries` (tombstones the purge found), those that a newer version of the same entry
     * replaced (its mark missing: the push that wrote it died before marking). One query.
     */
    async replacedAmong(userId: string, entries: { id: string; revision: number }[]) {
      if (entries.length === 0) return [];
      const lowest = Math.min(...entries.map((e) => e.revision));
      const newer = await versions
        .find(
          { userId, id: { $in: entries.map((e) => e.id) }, revision: { $gt: lowest } },
          { projection: { _id: 0, id: 1, revision: 1 } },
        )
        .toArray();
      return entries.filter((e) => newer.some((n) => n.id === e.id && n.revision > e.revision));
    },
  };
}
