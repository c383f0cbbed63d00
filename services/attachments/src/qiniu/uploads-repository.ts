import { ensureIndexes } from '@journal/shared';
import type { Db } from 'mongodb';

/** An object Qiniu reported through the upload callback. */
export interface QiniuUploadDoc {
  key: string;
  owner: string;
  bucket: string;
  size: number;
  hash: string;
  mimeType: string | null;
  uploadedAt: Date;
}

export function createQiniuUploadsRepository(db: Db) {
  const collection = db.collection<QiniuUploadDoc>('qiniu_uploads');
  return {
    async ensureIndexes(): Promise<void> {
      await ensureIndexes(collection, [
        { key: { key: 1 }, unique: true, name: 'key' },
        { key: { owner: 1, key: 1 }, name: 'owner_key' },
      ]);
    },

    /**
     * One record per key; Qiniu may retry a callback, so this is an idempotent upsert. True
     * when the record is new (the object counts against the owner's quota from then on).
     */
    async record(doc: QiniuUploadDoc): Promise<boolean> {
      const result = await collection.updateOne(
        { key: doc.key },
        { $set: { ...doc } },
        { upsert: true },
      );
      return result.upsertedCount > 0;
    },

    async remove(key: string): Promise<void> {
      await collection.deleteOne({ key });
    },

    /** Removes every upload record of `owner` (account deletion). */
    async deleteOwner(owner: string): Promise<void> {
      await collection.deleteMany({ owner });
    },

    find(key: string): Promise<QiniuUploadDoc | null> {
      return collection.findOne({ key }, { projection: { _id: 0 } });
    },
  };
}

export type QiniuUploadsRepository = ReturnType<typeof createQiniuUploadsRepository>;
