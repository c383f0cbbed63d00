import { z } from 'zod';
import { clientId } from './operation.js';

/** Zod schemas of the attachments service's public calls (see docs/api.md); its operations are in attachments.ts. */

export const sha256HexSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, { error: 'must be 64 hexadecimal characters (SHA-256)' });

export const attachmentParamsSchema = z.object({ id: clientId }).strict();

export const attachmentSchema = z
  .object({
    id: clientId,
    size: z.number().int().min(0).describe('Bytes'),
    contentType: z.string().describe('The Content-Type the attachment was uploaded with'),
    sha256: z.string().describe('Lower-case hex SHA-256 of the content; the ETag is this, quoted'),
    createdAt: z.iso.datetime(),
  })
  .strict()
  .meta({ id: 'Attachment' });

export const attachmentListQuerySchema = z
  .object({
    limit: z.coerce
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(1, { error: 'must be at least 1' })
      .max(1000, { error: 'must be at most 1000' })
      .default(100),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,256}$/, { error: 'is not a cursor this server made' })
      .optional()
      .describe('`nextCursor` of the previous page'),
  })
  .strict();

export const attachmentListSchema = z
  .object({
    attachments: z.array(attachmentSchema),
    nextCursor: z
      .string()
      .nullable()
      .describe('Opaque; pass as `cursor` for the next page. Null on the last page.'),
  })
  .strict()
  .meta({ id: 'AttachmentList' });

export const putAttachmentHeadersSchema = z
  .object({
    'x-content-sha256': sha256HexSchema
      .optional()
      .describe('SHA-256 of the body; the upload fails with 400 and keeps nothing on a mismatch'),
  })
  .loose();

export const getAttachmentHeadersSchema = z
  .object({
    range: z
      .string()
      .optional()
      .describe('One range `bytes=a-b`, `bytes=a-` or `bytes=-n`; others are ignored (200)'),
    'if-none-match': z.string().optional().describe('ETags (or `*`); a match answers 304'),
    'if-range': z.string().optional().describe('Range applies only while this ETag is current'),
  })
  .loose();

/** An object key inside the caller's Qiniu namespace: strict, so it can never leave it. */
export const qiniuKeySchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(512, { error: 'must be at most 512 characters' })
  .refine((key) => !key.startsWith('/'), { error: 'must not start with "/"' })
  .refine((key) => !key.includes('..'), { error: 'must not contain ".."' })
  .refine((key) => !key.includes('\\'), { error: 'must not contain backslashes' })
  .refine((key) => !/\p{Cc}/u.test(key), { error: 'must not contain control characters' })
  .describe('Object key below `users/<userId>/`');

export const qiniuKeyQuerySchema = z.object({ key: qiniuKeySchema }).strict();

export const qiniuUploadTokenSchema = z
  .object({
    token: z.string().describe('Qiniu upload token (`accessKey:signature:encodedPutPolicy`)'),
    key: z.string().describe('The full object key, `users/<userId>/<key>`'),
    bucket: z.string(),
    uploadUrl: z.string().describe('Where to POST the file (Qiniu form upload)'),
    expiresAt: z.iso.datetime(),
  })
  .strict()
  .meta({ id: 'QiniuUploadToken' });

export const qiniuDownloadUrlSchema = z
  .object({
    url: z.string().describe('Signed private download URL'),
    key: z.string(),
    expiresAt: z.iso.datetime(),
  })
  .strict()
  .meta({ id: 'QiniuDownloadUrl' });

/** What the upload token's put policy asks Qiniu to send to the callback (JSON). */
export const qiniuCallbackBodySchema = z.object({
  key: z.string().min(1).max(1024),
  fsize: z.coerce.number().int().min(0),
  hash: z.string().max(256),
  mimeType: z.string().max(255).optional(),
  bucket: z.string().max(255).optional(),
});

export const qiniuUploadSchema = z
  .object({
    key: z.string(),
    owner: z.string(),
    size: z.number().int(),
    hash: z.string(),
    mimeType: z.string().nullable(),
    uploadedAt: z.iso.datetime(),
  })
  .strict()
  .meta({ id: 'QiniuUpload' });

export type Attachment = z.infer<typeof attachmentSchema>;
export type QiniuUploadToken = z.infer<typeof qiniuUploadTokenSchema>;
