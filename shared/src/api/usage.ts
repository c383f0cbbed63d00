import { z } from 'zod';
import { STORAGE_LIMITS } from './attachments.js';
import { defineOperations, problemSchema } from './operation.js';

/**
 * The per-account quotas (docs/scaling.md, "Quotas"): the usage calls of sync and attachments,
 * and the gateway's one call that joins them.
 */

export const quotaReadingSchema = z
  .object({
    usage: z.number().int().min(0).describe('What the account uses now'),
    limit: z
      .number()
      .int()
      .min(1)
      .nullable()
      .describe('The quota; null when this server sets none (unlimited)'),
  })
  .strict()
  .meta({ id: 'QuotaReading' });

export const entriesUsageSchema = z
  .object({
    entries: quotaReadingSchema.describe('Entries that exist (not deleted)'),
    entryBytes: quotaReadingSchema.describe('Length of those entries’ content as JSON text'),
  })
  .strict()
  .meta({ id: 'EntriesUsage' });

export const attachmentsUsageSchema = z
  .object({
    attachments: quotaReadingSchema.describe('Attachments stored (uploads and Qiniu objects)'),
    attachmentBytes: quotaReadingSchema.describe('Bytes of those attachments'),
  })
  .strict()
  .meta({ id: 'AttachmentsUsage' });

export const usageSchema = z
  .object({
    entries: quotaReadingSchema.describe('Entries that exist (not deleted)'),
    entryBytes: quotaReadingSchema.describe('Length of those entries’ content as JSON text'),
    attachments: quotaReadingSchema.describe('Attachments stored (uploads and Qiniu objects)'),
    attachmentBytes: quotaReadingSchema.describe('Bytes of those attachments'),
  })
  .strict()
  .meta({ id: 'Usage' });

export type QuotaReadingReply = z.infer<typeof quotaReadingSchema>;
export type EntriesUsage = z.infer<typeof entriesUsageSchema>;
export type AttachmentsUsage = z.infer<typeof attachmentsUsageSchema>;
export type Usage = z.infer<typeof usageSchema>;

/** Names of the four quotas, as `quota_exceeded` problems and the usage call name them. */
export const QUOTA_NAMES = ['entries', 'entryBytes', 'attachments', 'attachmentBytes'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

const responses = (ok: z.ZodType) => ({
  200: ok,
  401: problemSchema,
  503: problemSchema,
});

export const usageOperations = defineOperations({
  usage: {
    operationId: 'getUsage',
    method: 'GET',
    path: '/usage',
    summary: 'The caller’s usage against each of the account’s quotas',
    description:
      'Entries, bytes of entries, attachments and bytes of attachments, each with the limit ' +
      'this server sets (null: none). Answered by the gateway from `GET /sync/usage` and ' +
      '`GET /storage/usage`, asked at once with the caller’s token. A write that would go ' +
      'over a quota answers 403 `quota_exceeded` naming the quota, its `limit` and the ' +
      '`usage`; deletions are always accepted.',
    tags: ['account'],
    auth: true,
    schema: {
      response: {
        ...responses(usageSchema),
        502: problemSchema.describe('A service answered something else'),
        504: problemSchema.describe('A service did not answer in time'),
      },
    },
  },
  syncUsage: {
    operationId: 'getEntriesUsage',
    method: 'GET',
    path: '/sync/usage',
    summary: 'The caller’s entries and their bytes against the entries quotas',
    tags: ['sync'],
    auth: true,
    schema: { response: responses(entriesUsageSchema) },
  },
  storageUsage: {
    operationId: 'getAttachmentsUsage',
    method: 'GET',
    path: '/storage/usage',
    bodyLimit: STORAGE_LIMITS.maxBodyBytes,
    summary: 'The caller’s attachments and their bytes against the attachments quotas',
    tags: ['storage'],
    auth: true,
    schema: { response: responses(attachmentsUsageSchema) },
  },
});
