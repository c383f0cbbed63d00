import type { EntryHistory as EntryHistoryReply, HistoryQuery } from '@journal/shared';
import { ProblemError } from '@journal/shared';
import type { Db } from 'mongodb';
import type { VersionDoc } from './repository.js';

/**
 * An entry's history: its versions still kept, newest first. The current version, and the
 * versions it replaced within the retention (replaced versions keep their content until the
 * purge deletes them, `SYNC_TOMBSTONE_RETENTION_SECONDS` after they were replaced). Only the
 * owner's versions are ever read: the query is by (userId, id), so another user's entry id is
 * simply not found.
 */
export interface EntryHistoryDeps {
  db: Db;
  retentionSeconds: number;
}

const FIELDS = {
  _id: 0,
  revision: 1,
  deleted: 1,
  content: 1,
  clientUpdatedAt: 1,
  updatedAt: 1,
  deviceId: 1,
  superseded: 1,
  supersededAt: 1,
} as const;

type HistoryDoc = Pick<
  VersionDoc,
  | 'revision'
  | 'deleted'
  | 'content'
  | 'clientUpdatedAt'
  | 'updatedAt'
  | 'deviceId'
  | 'superseded'
  | 'supersededAt'
>;

/** The query over `entry_versions` (its `user_id_base` index leads with userId and id). */
export function createHistoryRepository(db: Db) {
  const versions = db.collection<VersionDoc>('entry_versions');
  return {
    /** Up to `limit + 1` versions of (userId, id) below `before`, newest first. One query. */
    versions(userId: string, id: string, before: number, limit: number): Promise<HistoryDoc[]> {
      return (
        versions
          .find({ userId, id, revision: { $lt: before } }, { projection: FIELDS })
          // An entry's versions form one chain (each based on the one before), so base revision
          // order is revision order, and the sort walks the index backwards.
          .sort({ userId: -1, id: -1, baseRevision: -1 })
          .limit(limit + 1)
          .toArray() as Promise<HistoryDoc[]>
      );
    },
  };
}

export function createEntryHistory(deps: EntryHistoryDeps) {
  const repository = createHistoryRepository(deps.db);

  return {
    async list(
      userId: string,
      id: string,
      query: HistoryQuery,
      now = new Date(),
    ): Promise<EntryHistoryReply> {
      const cutoff = now.getTime() - deps.retentionSeconds * 1000;
      const before = query.before ?? Number.MAX_SAFE_INTEGER;
      const docs = await repository.versions(userId, id, before, query.limit);
      const more = docs.length > query.limit;
      // Replaced longer ago than the retention: as good as purged (the purge may not have run).
      const kept = docs
        .slice(0, query.limit)
        .filter((d) => !d.superseded || (d.supersededAt?.getTime() ?? 0) >= cutoff);
      if (kept.length === 0 && query.before === undefined) {
        throw new ProblemError('not_found', `no entry ${id}`);
      }
      const last = docs[Math.min(docs.length, query.limit) - 1];
      return {
        id,
        versions: kept.map((d) => ({
          revision: d.revision,
          current: d.superseded !== true,
          deleted: d.deleted,
          content: d.deleted || d.content === null ? null : JSON.parse(d.content),
          clientUpdatedAt: d.clientUpdatedAt,
          updatedAt: d.updatedAt.toISOString(),
          replacedAt: d.supersededAt ? d.supersededAt.toISOString() : null,
          deviceId: d.deviceId,
        })),
        nextBefore: more && last ? last.revision : null,
      };
    },
  };
}

export type EntryHistory = ReturnType<typeof createEntryHistory>;
