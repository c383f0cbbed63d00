import { z } from 'zod';
import {
  bundleSchema,
  ENCRYPTED_CONTENT_TYPE,
  ENCRYPTION_LIMITS,
  encryptionStatusSchema,
  finishRequestSchema,
  putEncryptionRequestSchema,
  syncFinishReplySchema,
} from './encryption-schemas.js';
import { defineOperations, problemSchema } from './operation.js';

export * from './encryption-schemas.js';

const tags = ['encryption'];
const plaintextRemaining = (what: string) =>
  problemSchema.describe(
    `\`plaintext_remaining\` (${what}, up to ${ENCRYPTION_LIMITS.maxListedPlaintext}; nothing ` +
      'was removed) or `encryption_not_enabled`',
  );

export const authEncryptionOperations = defineOperations({
  getEncryption: {
    operationId: 'getEncryption',
    method: 'GET',
    path: '/auth/encryption',
    summary: 'Whether the account is end-to-end encrypted, and its key bundle',
    description:
      'The bundle holds only wrapped keys and the key-derivation parameters: nothing in it ' +
      'opens the data without the passphrase or the recovery key (docs/encryption.md).',
    tags,
    auth: true,
    schema: { response: { 200: encryptionStatusSchema, 401: problemSchema } },
  },
  putEncryption: {
    operationId: 'putEncryption',
    method: 'PUT',
    path: '/auth/encryption',
    bodyLimit: ENCRYPTION_LIMITS.maxBundleBytes,
    summary: 'Write the next version of the key bundle (compare-and-swap)',
    description:
      'Stores version `expectedVersion + 1` when `expectedVersion` is the current version (0: ' +
      'no bundle yet; version 1 turns encryption on for good). Otherwise 409 ' +
      '`version_conflict` with `current`, the current bundle (or null). 409 ' +
      '`migration_in_progress` when the bundle names a migrating device other than the one ' +
      'holding a live lease. 400 `invalid_bundle_change` for a write that drops a content key ' +
      'or goes from `on` back to `migrating`.',
    tags,
    auth: true,
    schema: {
      body: putEncryptionRequestSchema,
      response: {
        200: bundleSchema,
        400: problemSchema,
        401: problemSchema,
        409: problemSchema.describe(
          '`version_conflict` (with `current`) or `migration_in_progress`',
        ),
        413: problemSchema,
      },
    },
  },
});

export const syncEncryptionOperations = defineOperations({
  finishEncryption: {
    operationId: 'finishSyncEncryption',
    method: 'POST',
    path: '/sync/encryption/finish',
    summary: 'Drop the plaintext the server still keeps of an encrypted account’s entries',
    description:
      'When every current entry of the caller is an envelope (or a tombstone): drops the ' +
      'content of replaced versions that is not an envelope (their history then shows no ' +
      'content) and the caller’s recent-changes cache, and answers how many versions it ' +
      'emptied. Otherwise 409 `plaintext_remaining` with `entries`, the ids still in ' +
      'plaintext, and nothing is dropped. 409 `encryption_not_enabled` for an account ' +
      'without encryption.',
    tags,
    auth: true,
    schema: {
      body: finishRequestSchema,
      response: {
        200: syncFinishReplySchema,
        400: problemSchema,
        401: problemSchema,
        409: plaintextRemaining('`entries`'),
      },
    },
  },
});

export const attachmentsEncryptionOperations = defineOperations({
  finishEncryption: {
    operationId: 'finishAttachmentsEncryption',
    method: 'POST',
    path: '/attachments/encryption/finish',
    summary: 'Check that no attachment of an encrypted account is left in plaintext',
    description:
      `200 when every attachment of the caller has Content-Type \`${ENCRYPTED_CONTENT_TYPE}\` ` +
      'and every recorded Qiniu upload that MIME type; otherwise 409 `plaintext_remaining` ' +
      'with `attachments` (ids) and `qiniuKeys` (object keys) still in plaintext. 409 ' +
      '`encryption_not_enabled` for an account without encryption.',
    tags,
    auth: true,
    schema: {
      body: finishRequestSchema,
      response: {
        200: z.object({}).strict().describe('Nothing in plaintext is left'),
        400: problemSchema,
        401: problemSchema,
        409: plaintextRemaining('`attachments` and `qiniuKeys`'),
      },
    },
  },
});
