import { ensureIndexes, isDuplicateKey } from '@journal/shared';
import { type Db, MongoBulkWriteError } from 'mongodb';
import { purgeQueries } from './purge-queries.js';

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

    ...purgeQueries(versions, purges),
  };
}

export type EntriesRepository = ReturnType<typeof createEntriesRepository>;
