import { ensureIndexes, isDuplicateKey } from '@journal/shared';
import { type Db, MongoBulkWriteError } from 'mongodb';

/**
 * One version of one entry, never changed once written (except the idempotent `superseded`
 * mark). The user's versions form the change feed: `(userId, revision)` is unique and dense,
 * `(userId, id, baseRevision)` is unique so only one change can ever be made on top of a given
 * version of an entry. Content is stored as JSON text: any key a client sends (`$gt`, `a.b`)
 * is just text to the database, and equality and size are exact.
 */
export interface VersionDoc {
  userId: string;
  id: string;
  revision: number;
  baseRevision: number;
  deleted: boolean;
  /** JSON text of the content; null for a tombstone or a superseded version. */
  content: string | null;
  clientUpdatedAt: string | null;
  updatedAt: Date;
  deviceId: string | null;
  /** Length of `content` (0 for a tombstone), kept when superseded: what the quotas count. */
  size?: number;
  /** Set once a newer version of the same entry exists; such versions are never served. */
  superseded?: true;
  supersededAt?: Date;
}

const VERSION_FIELDS = {
  _id: 0,
  id: 1,
  revision: 1,
  baseRevision: 1,
  deleted: 1,
  content: 1,
  clientUpdatedAt: 1,
  updatedAt: 1,
  deviceId: 1,
} as const;

/**
 * A purge horizon of a user: versions up to `purgedThrough` may be gone. A tombstone purge's
 * (no `holes`) also ends cursors older than it (410); a purge of replaced versions (`holes`)
 * only says that the holes it leaves can never fill (holes.ts).
 */
export interface PurgeDoc {
  userId: string;
  purgedThrough: number;
  at: Date;
  holes?: true;
}

/**
 * Documents per reply of the streamed reads of whole versions (heads of a push, conflicts'
 * current versions): every one asked for in one reply (two per id: a replaced version not yet
 * marked), which MongoDB ends at 16 MiB anyway; the caller keeps what it needs, not the batch.
 */
const streamBatch = (ids: number) => Math.max(ids * 2, 101);

export function createEntriesRepository(db: Db) {
  const versions = db.collection<VersionDoc>('entry_versions');
  const purges = db.collection<PurgeDoc>('sync_purges');

  return {
    async ensureIndexes(): Promise<void> {
      await ensureIndexes(versions, [
        // The change sequence: one version per revision, scanned in order by pulls.
        { key: { userId: 1, revision: 1 }, name: 'user_revision', unique: true },
        // One change per base version of an entry: the optimistic-concurrency guard.
        { key: { userId: 1, id: 1, baseRevision: 1 }, name: 'user_id_base', unique: true },
        // The purge job's scans.
        { key: { deleted: 1, updatedAt: 1 }, name: 'deleted_updatedAt' },
        { key: { superseded: 1, supersededAt: 1 }, name: 'superseded_at' },
      ]);
      await ensureIndexes(purges, [
        { key: { userId: 1, purgedThrough: 1 }, name: 'user_purgedThrough' },
      ]);
    },

    /**
     * The current versions of `ids` (at most two per id: a replaced one whose mark has not
     * landed yet, so callers keep the higher revision), streamed: a batch ends at 16 MiB, and
     * callers keep only what they need of each, so a push's 500 heads of up to 1 MiB are never
     * all in memory at once.
     */
    currentVersions(userId: string, ids: string[]): AsyncIterable<VersionDoc> {
      return versions
        .find(
          { userId, id: { $in: ids }, superseded: { $ne: true } },
          { projection: { ...VERSION_FIELDS, userId: 1 } },
        )
        .batchSize(streamBatch(ids.length)) as unknown as AsyncIterable<VersionDoc>;
    },

    /** The versions at `revisions` (replaced ones included), streamed like `currentVersions`. */
    versionsAt(userId: string, revisions: number[]): AsyncIterable<VersionDoc> {
      return versions
        .find(
          { userId, revision: { $in: revisions } },
          { projection: { ...VERSION_FIELDS, userId: 1, superseded: 1 } },
        )
        .batchSize(streamBatch(revisions.length)) as unknown as AsyncIterable<VersionDoc>;
    },

    /** The user's highest revision (0 when none). One query on `user_revision`. */
    async maxRevision(userId: string): Promise<number> {
      const [doc] = await versions
        .find({ userId }, { projection: { _id: 0, revision: 1 } })
        .sort({ userId: -1, revision: -1 })
        .limit(1)
        .toArray();
      return doc?.revision ?? 0;
    },

    /**
     * Inserts `docs` in order and stops at the first duplicate key. Returns how many were
     * inserted (all of them, or the index of the one that collided).
     */
    async insertOrdered(docs: VersionDoc[]): Promise<number> {
      if (docs.length === 0) return 0;
      try {
        await versions.insertMany(
          // `size`: the content's JSON length, so a quota recount reads no content.
          docs.map((doc) => ({ ...doc, size: doc.content?.length ?? 0 })),
          { ordered: true },
        );
        return docs.length;
      } catch (err) {
        if (err instanceof MongoBulkWriteError && isDuplicateKey(err)) {
          const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
          return Math.min(...errors.map((e) => e.index));
        }
        if (isDuplicateKey(err) && docs.length === 1) return 0;
        throw err;
      }
    },

    /** True when a change on top of `baseRevision` of the entry exists already. */
    async baseTaken(userId: string, id: string, baseRevision: number): Promise<boolean> {
      const doc = await versions.findOne(
        { userId, id, baseRevision },
        { projection: { _id: 0, revision: 1 } },
      );
      return doc !== null;
    },

    /**
     * Marks the versions that writes replaced as superseded and drops their content: exactly
     * the versions at the writes' base revisions (a change applies only on top of its entry's
     * current version, and revisions are unique per user). One command. Idempotent (every
     * writer sets the same values), so it needs no atomicity.
     */
    async markSuperseded(userId: string, replacedRevisions: number[]): Promise<void> {
      if (replacedRevisions.length === 0) return;
      await versions.updateMany(
        { userId, revision: { $in: replacedRevisions }, superseded: { $ne: true } },
        // Content is kept: an entry's history shows replaced versions until the purge deletes
        // them (entries/history.ts).
        { $set: { superseded: true, supersededAt: new Date() } },
      );
    },

    /**
     * One page of current versions with `since < revision`, ascending: at most `limit`, and
     * cut while it is read (a streamed cursor, never the whole `limit` in memory) once their
     * content passes `maxContentBytes` (the first version always fits). `hasMore` when the
     * page stopped before the end. One query.
     */
    async page(
      userId: string,
      since: number,
      limit: number,
      maxContentBytes: number,
    ): Promise<{ docs: VersionDoc[]; hasMore: boolean }> {
      const cursor = versions
        .find(
          { userId, revision: { $gt: since }, superseded: { $ne: true } },
          { projection: VERSION_FIELDS },
        )
        .sort({ userId: 1, revision: 1 })
        .limit(limit + 1)
        .batchSize(limit + 1);
      const docs: VersionDoc[] = [];
      let bytes = 0;
      let hasMore = false;
      try {
        for await (const doc of cursor as unknown as AsyncIterable<VersionDoc>) {
          const size = doc.content?.length ?? 0;
          if (docs.length === limit || (docs.length > 0 && bytes + size > maxContentBytes)) {
            hasMore = true;
            break;
          }
          bytes += size;
          docs.push(doc);
        }
      } finally {
        await cursor.close();
      }
      return { docs, hasMore };
    },

    /** The user's purge horizon (0 when nothing was ever purged). One query. */
    async purgedThrough(
      userId: string,
      kind: 'tombstones' | 'all' = 'tombstones',
    ): Promise<number> {
      const filter = kind === 'all' ? { userId } : { userId, holes: { $ne: true as const } };
      const [doc] = await purges
        .find(filter, { projection: { _id: 0, purgedThrough: 1 } })
        .sort({ userId: -1, purgedThrough: -1 })
        .limit(1)
        .toArray();
      return doc?.purgedThrough ?? 0;
    },

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

export type EntriesRepository = ReturnType<typeof createEntriesRepository>;
