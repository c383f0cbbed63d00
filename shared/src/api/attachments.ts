import { z } from 'zod';
import {
  attachmentListQuerySchema,
  attachmentListSchema,
  attachmentParamsSchema,
  attachmentSchema,
  getAttachmentHeadersSchema,
  putAttachmentHeadersSchema,
  qiniuDownloadUrlSchema,
  qiniuKeyQuerySchema,
  qiniuUploadSchema,
  qiniuUploadTokenSchema,
} from './attachments-schemas.js';
import { attachmentsEncryptionOperations, ENCRYPTED_CONTENT_TYPE } from './encryption.js';
import { defineOperations, problemSchema } from './operation.js';

export * from './attachments-schemas.js';

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
        403: problemSchema.describe(
          '`quota_exceeded`, or `encryption_required` (an encrypted account uploaded another ' +
            `Content-Type than \`${ENCRYPTED_CONTENT_TYPE}\` or a body not starting with ` +
            '`JRNLE2E1`): nothing of the upload was kept',
        ),
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
      '`users/<userId>/<key>` (insert only, size-limited) until `expiresAt`; for an ' +
      `end-to-end encrypted account only of MIME type \`${ENCRYPTED_CONTENT_TYPE}\`.`,
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
      'Records the uploaded object (key, size, hash, MIME type, owner from the key). An object ' +
      'of an end-to-end encrypted account with another MIME type is deleted and refused (403 ' +
      '`encryption_required`).',
    tags: storageTags,
    auth: false,
    schema: {
      response: {
        200: qiniuUploadSchema,
        400: problemSchema,
        401: problemSchema,
        403: problemSchema,
        503: problemSchema,
      },
    },
    rawBody: {
      'application/json': 'JSON callback body (`key`, `fsize`, `hash`, `mimeType`, `bucket`)',
      'application/x-www-form-urlencoded': 'The same fields, form-encoded',
    },
  },
  // POST /attachments/encryption/finish (encryption.ts).
  ...attachmentsEncryptionOperations,
});
