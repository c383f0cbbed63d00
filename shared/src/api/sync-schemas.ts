import { z } from 'zod';
import { clientId } from './operation.js';

/** Zod schemas of the sync service's public calls (see docs/api.md); its operations are in sync.ts. */

/** Limits of one push (docs/api.md) and of one entry's content. */
export const SYNC_LIMITS = {
  maxChangesPerPush: 500,
  maxPushBytes: 10 * 1024 * 1024,
  maxContentBytes: 1024 * 1024,
  /** Objects and arrays nested deeper than this are refused (content is depth 1). */
  maxContentDepth: 32,
  /** Pages are also cut at 4 MiB of content, so a large count costs no more memory. */
  maxPullLimit: 10_000,
  defaultPullLimit: 500,
  maxWaitSeconds: 30,
} as const;

/**
 * How much longer than other calls the gateway waits for a long-poll's response headers: the
 * longest `wait` plus 5 s for a busy upstream.
 */
export const LONG_POLL_EXTRA_MS = (SYNC_LIMITS.maxWaitSeconds + 5) * 1000;

/**
 * Why `content` is not acceptable, or null when it is: nesting deeper than the limit, numbers
 * JSON cannot carry (Infinity from `1e999`), or more than 1 MiB serialized. Iterative, so a
 * hostile nesting depth cannot overflow the stack.
 */
export function contentProblem(content: Record<string, unknown>): string | null {
  const stack: [unknown, number][] = [[content, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value === 'number' && !Number.isFinite(value)) {
      return 'must contain only finite numbers';
    }
    if (value !== null && typeof value === 'object') {
      if (depth > SYNC_LIMITS.maxContentDepth) {
        return `must not nest objects or arrays deeper than ${SYNC_LIMITS.maxContentDepth} levels`;
      }
      for (const child of Object.values(value)) stack.push([child, depth + 1]);
    }
  }
  if (Buffer.byteLength(JSON.stringify(content)) > SYNC_LIMITS.maxContentBytes) {
    return `must be at most ${SYNC_LIMITS.maxContentBytes} bytes serialized`;
  }
  return null;
}

/** A journal entry's content: any JSON object (title, body, mood, tags, attachment ids, …). */
export const entryContentSchema = z
  .record(z.string(), z.unknown())
  .describe('Any JSON object, at most 1 MiB serialized and 32 levels deep');

export const entrySchema = z
  .object({
    id: z.string(),
    revision: z.number().int().describe('Position of this version in the user’s change sequence'),
    deleted: z.boolean(),
    content: entryContentSchema.nullable().describe('Null for a deleted entry (a tombstone)'),
    clientUpdatedAt: z.string().nullable().describe('As the client sent it (UTC), else null'),
    updatedAt: z.iso.datetime().describe('When the server accepted this version'),
    deviceId: z.string().nullable().describe('`deviceId` of the push that wrote this version'),
  })
  .strict()
  .meta({ id: 'Entry' });

/** Printable text without control characters (no `\p{}`: portable to JSON Schema consumers). */
const deviceIdSchema = z
  .string()
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse them.
  .regex(/^[^\u0000-\u001f\u007f]{1,128}$/, {
    error: 'must be 1-128 characters without control characters',
  })
  .describe('Identifies the pushing device; stored on every version it writes');

export const changeSchema = z
  .object({
    id: clientId,
    baseRevision: z
      .number({ error: 'must be an integer' })
      .int({ error: 'must be an integer' })
      .min(0, { error: 'must be at least 0' })
      .max(Number.MAX_SAFE_INTEGER, { error: 'is too large' })
      .describe('The entry’s revision this change was made on; 0 for an entry new to the server'),
    deleted: z.boolean().optional().describe('True deletes the entry (leaves a tombstone)'),
    content: entryContentSchema
      .nullable()
      .optional()
      .describe('Required unless `deleted`; null or absent when `deleted`'),
    clientUpdatedAt: z.iso
      .datetime({ offset: true, error: 'must be an ISO-8601 date-time' })
      .nullable()
      .optional()
      .describe('The client’s own edit time; stored and returned, never used to decide conflicts'),
  })
  .strict()
  .superRefine((change, ctx) => {
    if (change.deleted) {
      if (change.content !== undefined && change.content !== null) {
        ctx.addIssue({
          code: 'custom',
          path: ['content'],
          message: 'must be null or absent when deleted is true',
        });
      }
      return;
    }
    if (change.content === undefined || change.content === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['content'],
        message: 'is required (a JSON object) unless deleted is true',
      });
      return;
    }
    const problem = contentProblem(change.content);
    if (problem) ctx.addIssue({ code: 'custom', path: ['content'], message: problem });
  })
  .meta({ id: 'Change' });

export const pushRequestSchema = z
  .object({
    changes: z.array(changeSchema).max(SYNC_LIMITS.maxChangesPerPush, {
      error: `must hold at most ${SYNC_LIMITS.maxChangesPerPush} changes`,
    }),
    deviceId: deviceIdSchema.optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const seen = new Map<string, number>();
    body.changes.forEach((change, index) => {
      const first = seen.get(change.id);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['changes', index, 'id'],
          message: `repeats the id of changes.${first}; send one change per entry`,
        });
      } else seen.set(change.id, index);
    });
  })
  .meta({ id: 'PushRequest' });

export const idempotencyKeySchema = z.string().regex(/^[A-Za-z0-9._:+/=~-]{1,128}$/, {
  error: 'must be 1-128 characters of A-Z a-z 0-9 . _ : + / = ~ -',
});

export const pushHeadersSchema = z
  .object({
    'idempotency-key': idempotencyKeySchema
      .optional()
      .describe(
        'Repeating a key (same user, within 24 h) returns the first reply and applies nothing ' +
          'again; while the first request is still running a repeat waits briefly, then 409',
      ),
  })
  .loose();

export const pushReplySchema = z
  .object({
    accepted: z
      .array(z.object({ id: z.string(), revision: z.number().int() }).strict())
      .describe(
        'Applied changes (and changes identical to the server’s state) with their revision',
      ),
    conflicts: z.array(
      z
        .object({
          id: z.string(),
          reason: z.literal('revision_mismatch'),
          current: entrySchema.nullable().describe('The server’s entry; null when it has none'),
        })
        .strict(),
    ),
    revision: z
      .number()
      .int()
      .describe(
        'The highest revision of the user the server knew when answering; not a pull cursor ' +
          '(keep pulling with the cursor of GET /sync/changes)',
      ),
  })
  .strict()
  .meta({ id: 'PushReply' });

/** A non-negative integer in a query string: digits only (no `0x10`, `1e3`, signs or spaces). */
const queryInt = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,16}$/, { error: `${name} must be a non-negative integer` })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    );

/** A store generation id as the API carries it (docs/sync.md, "Restores and the store's generation"). */
export const storeGenerationSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, {
  error: 'generation must be 1-64 characters of A-Z a-z 0-9 _ -',
});

export const changesQuerySchema = z
  .object({
    since: queryInt('since', 0, Number.MAX_SAFE_INTEGER)
      .default(0)
      .describe('The `revision` of the previous reply; 0 for everything'),
    limit: queryInt('limit', 1, SYNC_LIMITS.maxPullLimit)
      .default(SYNC_LIMITS.defaultPullLimit)
      .describe('At most this many entries (1-1000, default 500)'),
    wait: queryInt('wait', 0, SYNC_LIMITS.maxWaitSeconds)
      .default(0)
      .describe('Seconds to hold the call while there is nothing new (0-30, default 0)'),
    generation: storeGenerationSchema
      .optional()
      .describe(
        'The `generation` of the reply that gave `since`: when the store has another one (a ' +
          'backup was restored since), 410 `resync_required`. Without it, no such check',
      ),
  })
  .strict();

export const changesReplySchema = z
  .object({
    changes: z.array(entrySchema).describe('Entries with revision > since, ascending'),
    revision: z.number().int().describe('The cursor: pass it as `since` next time'),
    hasMore: z.boolean().describe('True when more changes are ready: pull again at once'),
    generation: storeGenerationSchema
      .optional()
      .describe(
        'The store’s generation the cursor belongs to: keep it beside `revision` and send it ' +
          'as `generation` with the next pull (absent from servers that predate it)',
      ),
  })
  .strict()
  .meta({ id: 'Changes' });

export const historyParamsSchema = z.object({ id: clientId }).strict();

export const historyQuerySchema = z
  .object({
    limit: queryInt('limit', 1, 200)
      .default(50)
      .describe('At most this many versions (1-200, default 50)'),
    before: queryInt('before', 1, Number.MAX_SAFE_INTEGER)
      .optional()
      .describe('Only versions with a lower revision: the `nextBefore` of the previous reply'),
  })
  .strict();

export const entryVersionSchema = z
  .object({
    revision: z.number().int().describe('The version’s revision'),
    current: z.boolean().describe('True for the entry’s current version'),
    deleted: z.boolean(),
    content: entryContentSchema
      .nullable()
      .describe('Null for a deletion, or for a version replaced before contents were kept'),
    clientUpdatedAt: z.string().nullable(),
    updatedAt: z.iso.datetime().describe('When the server accepted this version'),
    replacedAt: z.iso.datetime().nullable().describe('When a newer version replaced it'),
    deviceId: z.string().nullable(),
  })
  .strict()
  .meta({ id: 'EntryVersion' });

export const entryHistorySchema = z
  .object({
    id: z.string(),
    versions: z.array(entryVersionSchema).describe('Newest first'),
    nextBefore: z
      .number()
      .int()
      .nullable()
      .describe('More versions: pass it as `before`; null when this is the oldest page'),
  })
  .strict()
  .meta({ id: 'EntryHistory' });

export type HistoryQuery = z.infer<typeof historyQuerySchema>;
export type EntryVersion = z.infer<typeof entryVersionSchema>;
export type EntryHistory = z.infer<typeof entryHistorySchema>;
export type Entry = z.infer<typeof entrySchema>;
export type Change = z.infer<typeof changeSchema>;
export type PushRequest = z.infer<typeof pushRequestSchema>;
export type PushReply = z.infer<typeof pushReplySchema>;
export type ChangesReply = z.infer<typeof changesReplySchema>;
