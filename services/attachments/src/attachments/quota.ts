import {
  createQuota,
  type Logger,
  type QuotaAmounts,
  type QuotaReading,
  type QuotaReservation,
  quotaExceeded,
  type Redis,
} from '@journal/shared';
import type { Db } from 'mongodb';

/**
 * The attachments quotas (docs/scaling.md, "Quotas"): `attachments` counts the user's stored
 * attachments (uploads through this service and objects Qiniu reported through its callback),
 * `attachmentBytes` their bytes.
 */

/** A streamed upload of undeclared size reserves at least this much more at a time. */
export const UPLOAD_RESERVE_STEP_BYTES = 1024 * 1024;

export interface AttachmentsQuotaOptions {
  db: Db;
  redis: Redis;
  limits: { attachments: number; attachmentBytes: number };
  logger?: Logger;
}

export function createAttachmentsQuota(options: AttachmentsQuotaOptions) {
  const { db } = options;
  const attachments = db.collection<{ owner: string; size: number }>('attachments');
  const qiniuUploads = db.collection<{ owner: string; size: number }>('qiniu_uploads');

  /** One streamed query per collection, projecting sizes only (a scan on FerretDB). */
  async function recount(owner: string): Promise<QuotaAmounts> {
    const total = { count: 0, bytes: 0 };
    for (const collection of [attachments, qiniuUploads]) {
      const cursor = collection
        .find({ owner }, { projection: { _id: 0, size: 1 } })
        .batchSize(1000);
      for await (const doc of cursor) {
        total.count += 1;
        total.bytes += typeof doc.size === 'number' ? doc.size : 0;
      }
    }
    return total;
  }

  const quota = createQuota({
    redis: options.redis,
    kind: 'attachments',
    names: { count: 'attachments', bytes: 'attachmentBytes' },
    limits: { count: options.limits.attachments, bytes: options.limits.attachmentBytes },
    recount,
    ...(options.logger ? { logger: options.logger } : {}),
  });

  return {
    limits: quota.limits,
    recount,

    /** Reserves one attachment of `declaredBytes` (0 when undeclared: reserved as it streams). */
    reserveUpload(owner: string, declaredBytes: number | undefined): Promise<QuotaReservation> {
      return quota.reserve(owner, { count: 1, bytes: declaredBytes ?? 0 });
    },

    /**
     * The upload's body, counted: past what is reserved, more is reserved (a step at a time,
     * or exactly what arrived when a step does not fit), and a chunk that does not fit ends the
     * upload with 403 quota_exceeded (the content store then removes what was written).
     */
    metered(
      body: AsyncIterable<Buffer>,
      hold: QuotaReservation,
      reservedBytes: number,
    ): AsyncIterable<Buffer> {
      let reserved = reservedBytes;
      return {
        async *[Symbol.asyncIterator]() {
          let size = 0;
          for await (const chunk of body) {
            size += chunk.length;
            if (size > reserved) {
              const needed = size - reserved;
              const step = Math.max(needed, UPLOAD_RESERVE_STEP_BYTES);
              try {
                await hold.extend({ count: 0, bytes: step });
                reserved += step;
              } catch {
                await hold.extend({ count: 0, bytes: needed });
                reserved += needed;
              }
            }
            yield chunk;
          }
        },
      };
    },

    /** A change the store holds already (a delete, a Qiniu object recorded). */
    adjust(owner: string, delta: QuotaAmounts): Promise<void> {
      return quota.adjust(owner, delta);
    },

    /**
     * The size limit of a Qiniu upload token: `maxBytes`, or what is left of the bytes quota
     * when less. Throws 403 quota_exceeded when no attachment or no byte is left.
     */
    async tokenSizeLimit(owner: string, maxBytes: number): Promise<number> {
      const { count, bytes } = quota.limits;
      if (count <= 0 && bytes <= 0) return maxBytes;
      const used = await quota.usage(owner);
      if (count > 0 && used.count + 1 > count)
        throw quotaExceeded('attachments', count, used.count, 1);
      if (bytes <= 0) return maxBytes;
      if (used.bytes + 1 > bytes) throw quotaExceeded('attachmentBytes', bytes, used.bytes, 1);
      return Math.min(maxBytes, bytes - used.bytes);
    },

    /** `GET /storage/usage`: the attachments quotas' usage and limits. */
    reading(owner: string): Promise<Record<string, QuotaReading>> {
      return quota.reading(owner);
    },
  };
}

export type AttachmentsQuota = ReturnType<typeof createAttachmentsQuota>;
