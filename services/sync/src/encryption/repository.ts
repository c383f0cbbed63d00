import type { Db } from 'mongodb';
import type { VersionDoc } from '../entries/repository.js';

/** A version that holds content, as the finish call's scan reads it. */
export type ContentVersion = Pick<VersionDoc, 'id' | 'revision' | 'deleted' | 'superseded'> & {
  content: string;
};

/** Ids or revisions per command. */
const BATCH = 1000;

/** The queries of end-to-end encryption's finish call over `entry_versions` (all by userId). */
export function createEncryptionRepository(db: Db) {
  const versions = db.collection<VersionDoc>('entry_versions');

  return {
    /** Every version of the user that holds content, streamed a batch at a time. */
    withContent(userId: string): AsyncIterable<ContentVersion> {
      return versions
        .find(
          { userId, content: { $ne: null } },
          {
            projection: { _id: 0, id: 1, revision: 1, deleted: 1, superseded: 1, content: 1 },
          },
        )
        .batchSize(200) as unknown as AsyncIterable<ContentVersion>;
    },

    /**
     * Of `heads` (id → revision), the ids whose revision is still the entry's highest version
     * not marked replaced: a tombstone (which holds no content) or a version written since may
     * be above it.
     */
    async stillCurrent(userId: string, heads: [string, number][]): Promise<string[]> {
      const kept: string[] = [];
      for (let i = 0; i < heads.length; i += BATCH) {
        const batch = new Map(heads.slice(i, i + BATCH));
        const newer = new Set<string>();
        const docs = versions.find(
          { userId, id: { $in: [...batch.keys()] }, superseded: { $ne: true } },
          { projection: { _id: 0, id: 1, revision: 1 } },
        );
        for await (const doc of docs) {
          if (doc.revision > (batch.get(doc.id) ?? 0)) newer.add(doc.id);
        }
        for (const id of batch.keys()) if (!newer.has(id)) kept.push(id);
      }
      return kept;
    },

    /** Drops the content of the user's versions at `revisions`; returns how many had any. */
    async emptyContent(userId: string, revisions: number[]): Promise<number> {
      let emptied = 0;
      for (let i = 0; i < revisions.length; i += BATCH) {
        const result = await versions.updateMany(
          { userId, revision: { $in: revisions.slice(i, i + BATCH) }, content: { $ne: null } },
          { $set: { content: null } },
        );
        emptied += result.modifiedCount;
      }
      return emptied;
    },
  };
}

export type EncryptionRepository = ReturnType<typeof createEncryptionRepository>;
