import { ensureIndexes, isDuplicateKey } from '@journal/shared';
import type { Db, ObjectId } from 'mongodb';

/** One attachment's metadata; the content lives in the storage module under `fileId`. */
export interface AttachmentDoc {
  owner: string;
  id: string;
  fileId: ObjectId;
  size: number;
  contentType: string;
  sha256: string;
  createdAt: Date;
}

const PUBLIC_FIELDS = {
  _id: 0,
  owner: 1,
  id: 1,
  fileId: 1,
  size: 1,
  contentType: 1,
  sha256: 1,
  createdAt: 1,
} as const;

export function createAttachmentsRepository(db: Db) {
  const collection = db.collection<AttachmentDoc>('attachments');

  return {
    async ensureIndexes(): Promise<void> {
      // The (owner, id) slot is claimed by a unique insert: the one guard against two
      // concurrent uploads of one id. It also serves lookups and the id-ordered listing.
      await ensureIndexes(collection, [
        { key: { owner: 1, id: 1 }, unique: true, name: 'owner_id' },
      ]);
    },

    /** Claims the slot; false when (owner, id) is taken already. */
    async insert(doc: AttachmentDoc): Promise<boolean> {
      try {
        await collection.insertOne({ ...doc });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },

    find(owner: string, id: string): Promise<AttachmentDoc | null> {
      return collection.findOne({ owner, id }, { projection: PUBLIC_FIELDS });
    },

    /**
     * Removes the metadata of (owner, id) if it still points at `fileId`; true for the one
     * caller whose delete removed it. A plain delete and its count, not findOneAndDelete: on
     * FerretDB 1.24 that is a find then a delete, so two concurrent callers both got the
     * document back (and both answered 204).
     */
    async remove(owner: string, id: string, fileId: ObjectId): Promise<boolean> {
      const result = await collection.deleteOne({ owner, id, fileId });
      return result.deletedCount === 1;
    },

    /** Removes the metadata of the owner's `ids` whatever files they point at (account deletion). */
    async removeAll(owner: string, ids: string[]): Promise<void> {
      if (ids.length > 0) await collection.deleteMany({ owner, id: { $in: ids } });
    },

    /** The owner's attachments with id greater than `after`, ascending by id. */
    list(owner: string, limit: number, after?: string): Promise<AttachmentDoc[]> {
      const filter = after === undefined ? { owner } : { owner, id: { $gt: after } };
      return collection
        .find(filter, { projection: PUBLIC_FIELDS })
        .sort({ owner: 1, id: 1 })
        .limit(limit)
        .toArray();
    },
  };
}

export type AttachmentsRepository = ReturnType<typeof createAttachmentsRepository>;
