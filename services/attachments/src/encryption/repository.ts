import { ENCRYPTED_CONTENT_TYPE } from '@journal/shared';
import type { Db } from 'mongodb';
import type { AttachmentDoc } from '../attachments/repository.js';
import type { QiniuUploadDoc } from '../qiniu/uploads-repository.js';

/** The queries of end-to-end encryption's finish call (both by owner). */
export function createEncryptionRepository(db: Db) {
  const attachments = db.collection<AttachmentDoc>('attachments');
  const uploads = db.collection<QiniuUploadDoc>('qiniu_uploads');

  return {
    /** Ids of up to `limit` of the owner's attachments of another type, ascending. */
    async plaintextAttachments(owner: string, limit: number): Promise<string[]> {
      const docs = await attachments
        .find(
          { owner, contentType: { $ne: ENCRYPTED_CONTENT_TYPE } },
          { projection: { _id: 0, id: 1 } },
        )
        .sort({ owner: 1, id: 1 })
        .limit(limit)
        .toArray();
      return docs.map((doc) => doc.id);
    },

    /** Keys of up to `limit` of the owner's recorded Qiniu objects of another MIME type. */
    async plaintextUploads(owner: string, limit: number): Promise<string[]> {
      const docs = await uploads
        .find(
          { owner, mimeType: { $ne: ENCRYPTED_CONTENT_TYPE } },
          { projection: { _id: 0, key: 1 } },
        )
        .sort({ owner: 1, key: 1 })
        .limit(limit)
        .toArray();
      return docs.map((doc) => doc.key);
    },
  };
}
