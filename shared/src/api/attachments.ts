import { z } from 'zod';
import { clientId, defineOperations, problemSchema } from './operation.js';

/** Zod schemas and operations of the attachments service's public calls (see docs/api.md). */

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

/** Largest body of a `/storage/*` call (Qiniu's callback; the others have none). */
export const STORAGE_LIMITS = { maxBodyBytes: 64 * 1024 } as const;

const tags = ['attachments'];
const storageTags = ['storage'];
const bytes = z.unknown().describe('The attachment bytes');

export const attachmentsOperations = defineOperations({
  put: {
    operationId: 'putAttachment',
    method: 'PUT',
    path: '/attachments/:id',
    bodyLimit: 'configured',
    summary: 'Upload an attachment (raw bytes, streamed)',
    description:
      'The body is the content, of any Content-Type (stored and served back as given; ' +
      '`application/octet-stream` when absent), streamed into storage. Putting the same bytes ' +
      'again answers 200 with the stored attachment; different bytes under an existing id answer ' +
      '409. With `x-content-sha256`, a mismatch answers 400. Bodies over the size limit answer ' +
      '413. Nothing is kept after any failure.',
    tags,
    auth: true,
    schema: {
      params: attachmentParamsSchema,
      headers: putAttachmentHeadersSchema,
      response: {
        200: attachmentSchema.describe('The same bytes were stored under this id already'),
        201: attachmentSchema,
        400: problemSchema,
        401: problemSchema,
        403: problemSchema.describe('`quota_exceeded`: nothing of the upload was kept'),
        409: problemSchema,
        413: problemSchema,
      },
    },
    rawBody: { '*/*': 'The attachment content' },
  },
  get: {
    operationId: 'getAttachment',
    method: 'GET',
    path: '/attachments/:id',
    summary: 'Download an attachment (streamed; single ranges)',
    description:
      'Sends `Content-Type`, `Content-Length`, `ETag` (the quoted SHA-256), `Accept-Ranges: ' +
      'bytes`, `Cache-Control: private`. One range answers 206 with `Content-Range`; an ' +
      'unsatisfiable one 416 with `Content-Range: bytes */<size>`; several ranges or a malformed ' +
      '`Range` are ignored (200). A matching `If-None-Match` answers 304. Another user’s ' +
      'attachment answers 404 like a missing one.',
    tags,
    auth: true,
    schema: {
      params: attachmentParamsSchema,
      headers: getAttachmentHeadersSchema,
      response: {
        200: bytes,
        206: bytes,
        304: z.null().describe('Not modified'),
        400: problemSchema,
        401: problemSchema,
        404: problemSchema,
        416: problemSchema,
      },
    },
    // The bytes come back with the Content-Type they were stored with.
    rawResponse: { 200: '*/*', 206: '*/*' },
  },
  head: {
    operationId: 'headAttachment',
    method: 'HEAD',
    path: '/attachments/:id',
    summary: 'An attachment’s headers, without the body',
    tags,
    auth: true,
    schema: {
      params: attachmentParamsSchema,
      headers: getAttachmentHeadersSchema,
      response: {
        200: z.null().describe('Same headers as GET'),
        206: z.null(),
        304: z.null(),
        400: problemSchema,
        401: problemSchema,
        404: problemSchema,
        416: problemSchema,
      },
    },
    // No body; Content-Type is the attachment's own.
    rawResponse: { 200: '*/*', 206: '*/*' },
  },
  delete: {
    operationId: 'deleteAttachment',
    method: 'DELETE',
    path: '/attachments/:id',
    summary: 'Delete an attachment and its content',
    tags,
    auth: true,
    schema: {
      params: attachmentParamsSchema,
      response: {
        204: z.null().describe('Deleted'),
        400: problemSchema,
        401: problemSchema,
        404: problemSchema,
      },
    },
  },
  list: {
    operationId: 'listAttachments',
    method: 'GET',
    path: '/attachments',
    summary: 'The caller’s attachments, by id, a page at a time',
    tags,
    auth: true,
    schema: {
      querystring: attachmentListQuerySchema,
      response: { 200: attachmentListSchema, 400: problemSchema, 401: problemSchema },
    },
  },
  qiniuToken: {
    operationId: 'getQiniuUploadToken',
    method: 'GET',
    path: '/storage/qiniu/token',
    bodyLimit: STORAGE_LIMITS.maxBodyBytes,
    summary: 'A Qiniu upload token for one key in the caller’s namespace',
    description:
      'Computed locally (no network call). The token allows one new object ' +
      '`users/<userId>/<key>` (insert only, size-limited) until `expiresAt`.',
    tags: storageTags,
    auth: true,
    schema: {
      querystring: qiniuKeyQuerySchema,
      response: {
        200: qiniuUploadTokenSchema,
        400: problemSchema,
        401: problemSchema,
        403: problemSchema.describe('`quota_exceeded`: no attachment or byte of the quota is left'),
        503: problemSchema,
      },
    },
  },
  qiniuUrl: {
    operationId: 'getQiniuDownloadUrl',
    method: 'GET',
    path: '/storage/qiniu/url',
    bodyLimit: STORAGE_LIMITS.maxBodyBytes,
    summary: 'A signed, short-lived download URL for a key in the caller’s namespace',
    tags: storageTags,
    auth: true,
    schema: {
      querystring: qiniuKeyQuerySchema,
      response: {
        200: qiniuDownloadUrlSchema,
        400: problemSchema,
        401: problemSchema,
        503: problemSchema,
      },
    },
  },
  qiniuCallback: {
    operationId: 'qiniuUploadCallback',
    method: 'POST',
    path: '/storage/qiniu/callback',
    bodyLimit: STORAGE_LIMITS.maxBodyBytes,
    summary: 'Qiniu’s upload callback (called by Qiniu, not by clients)',
    description:
      'Authenticated by Qiniu’s callback signature in `Authorization`, not by a bearer token. ' +
      'Records the uploaded object (key, size, hash, MIME type, owner from the key).',
    tags: storageTags,
    auth: false,
    schema: {
      response: {
        200: qiniuUploadSchema,
        400: problemSchema,
        401: problemSchema,
        503: problemSchema,
      },
    },
    rawBody: {
      'application/json': 'JSON callback body (`key`, `fsize`, `hash`, `mimeType`, `bucket`)',
      'application/x-www-form-urlencoded': 'The same fields, form-encoded',
    },
  },
});
