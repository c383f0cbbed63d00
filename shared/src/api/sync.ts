import { syncEncryptionOperations } from './encryption.js';
import { defineOperations, problemSchema } from './operation.js';
import {
  changesQuerySchema,
  changesReplySchema,
  entryHistorySchema,
  historyParamsSchema,
  historyQuerySchema,
  pushHeadersSchema,
  pushReplySchema,
  pushRequestSchema,
  SYNC_LIMITS,
} from './sync-schemas.js';

export * from './sync-schemas.js';

const tags = ['sync'];

export const syncOperations = defineOperations({
  changes: {
    operationId: 'getChanges',
    method: 'GET',
    path: '/sync/changes',
    summary: 'The caller’s entries changed after a cursor, in revision order (long-poll)',
    description:
      'Returns entries with `revision > since`, ascending, at most `limit`. Keep pulling with ' +
      'the reply’s `revision`: every change is seen exactly once and in order, whatever other ' +
      'devices push meanwhile. With `wait > 0` and nothing new, the call holds until a change ' +
      'arrives (pushed to any replica) or the wait ends. 410 `resync_required` when `since` is ' +
      'older than the tombstone purge horizon, or when `generation` is not the store’s (a ' +
      'backup was restored): pull again from 0 and replace local state.',
    tags,
    auth: true,
    schema: {
      querystring: changesQuerySchema,
      response: {
        200: changesReplySchema,
        400: problemSchema,
        401: problemSchema,
        410: problemSchema,
      },
    },
  },
  push: {
    operationId: 'pushChanges',
    method: 'POST',
    path: '/sync/push',
    summary: 'Apply changes made on a device, with optimistic concurrency per entry',
    description:
      'A change applies only when `baseRevision` is the entry’s current revision (0 when the ' +
      'server has no such entry); otherwise it is listed in `conflicts` with the server’s ' +
      'entry and nothing is overwritten. A change identical to the current state (same ' +
      '`content` and `deleted`) is accepted at the current revision. At most 500 changes and ' +
      '10 MiB per push; 1 MiB per entry.',
    tags,
    auth: true,
    bodyLimit: SYNC_LIMITS.maxPushBytes,
    schema: {
      body: pushRequestSchema,
      headers: pushHeadersSchema,
      response: {
        200: pushReplySchema,
        400: problemSchema,
        401: problemSchema,
        403: problemSchema.describe(
          '`quota_exceeded`, or `encryption_required` (an encrypted account pushed a change ' +
            'whose content is not an envelope): nothing of the push was applied',
        ),
        409: problemSchema,
        413: problemSchema,
      },
    },
  },
  history: {
    operationId: 'getEntryHistory',
    method: 'GET',
    path: '/sync/entries/:id/versions',
    summary: 'An entry’s versions kept by the server, newest first',
    description:
      'The current version and the versions it replaced within the retention ' +
      '(`SYNC_TOMBSTONE_RETENTION_SECONDS`, 90 days by default), newest first, each with its ' +
      'revision, content and times. Restoring one is an ordinary push of its content. Only the ' +
      'owner’s entries: 404 `not_found` for an id the caller has no version of (another ' +
      'user’s too).',
    tags,
    auth: true,
    schema: {
      params: historyParamsSchema,
      querystring: historyQuerySchema,
      response: {
        200: entryHistorySchema,
        400: problemSchema,
        401: problemSchema,
        404: problemSchema,
      },
    },
  },
  // POST /sync/encryption/finish (encryption.ts).
  ...syncEncryptionOperations,
});
