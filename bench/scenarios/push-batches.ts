import {
  ACCOUNT_ENCRYPTION_COLLECTION,
  quotaKey,
  syncHeadKey,
  syncRecentKey,
} from '@journal/shared';
import { auth, type BenchUser, pushBody, register, versionDoc } from '../lib/client.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { type HintCase, hintVsStore } from '../lib/hint.js';
import { call } from '../lib/measure.js';

/** Recorded pushes per run (each run warms up with as many at most): the collection grows. */
const PUSHES: Record<number, number> = { 1: 40, 50: 8, 500: 3 };

/**
 * Pushes of 1, 50 and 500 new entries (entries/s, one push at a time): with the head in Redis
 * the push guesses its revisions and costs the `_id` lookup of the account's end-to-end
 * encryption record (a plaintext push of an account without one: docs/encryption.md) and one
 * insert, against the raw driver's same lookup and insertMany of as many versions into the
 * same collection; with the head deleted before each push, the head miss's query of the highest
 * revision comes first, against the raw driver's same three commands. The pushed versions are
 * deleted at the end (later scenarios measure their own).
 */
export const pushBatches: Scenario = {
  name: '3 push batches',
  async run(ctx) {
    const { stack } = ctx;
    const users: string[] = [];
    for (const size of [1, 50, 500]) {
      const hint = await register(stack.urls.gateway, `push${size}`);
      const cold = await register(stack.urls.gateway, `coldpush${size}`);
      const c = pushCase(ctx, size, hint, cold);
      users.push(hint.userId, cold.userId, `raw-hint-${size}`, `raw-cold-${size}`);
      await hintVsStore(ctx, c);
    }
    // A user idle for over an hour: the quota counter (a hint in Redis too, 1 h) is gone with
    // the head, and the push recounts the user's entries before it reserves (one streamed query
    // over their current versions projecting no content).
    const hint = await register(stack.urls.gateway, 'idlepush');
    const cold = await register(stack.urls.gateway, 'coldidlepush');
    users.push(hint.userId, cold.userId, 'raw-hint-idle', 'raw-cold-idle');
    const base = pushCase(ctx, 50, hint, cold, 'idle');
    await hintVsStore(ctx, {
      ...base,
      label: '3 push x50, quota counter deleted with the head',
      paths: ['gateway'],
      coldKeys: (userId) => [quotaKey(userId, 'entries')],
      cold: {
        expect: { guess: 'no_head' },
        raw: 'encryption record lookup, highest revision, quota recount, insertMany of 50',
        op: async () => {
          await encryptionRecord(ctx, 'raw-cold-idle');
          const max = await ctx.entries.maxRevision('raw-cold-idle');
          await recountQuery(ctx, 'raw-cold-idle');
          await insertAll(
            ctx,
            Array.from({ length: 50 }, (_, i) => versionDoc('raw-cold-idle', max + i + 1)),
          );
        },
      },
    });
    await deleteVersionsOf(ctx, users);
    await ctx.redis.del(
      ...users.flatMap((u) => [syncHeadKey(u), syncRecentKey(u), quotaKey(u, 'entries')]),
    );
  },
};

/** The `_id` lookup sync makes before a plaintext push (shared/src/encryption-state.ts). */
export function encryptionRecord(ctx: BenchContext, userId: string) {
  return ctx.db
    .collection<{ _id: string }>(ACCOUNT_ENCRYPTION_COLLECTION)
    .findOne({ _id: userId }, { projection: { _id: 1 } });
}

/** sync's ordered insert, every version or an error (a duplicate would make a fast no-op). */
export async function insertAll(ctx: BenchContext, docs: ReturnType<typeof versionDoc>[]) {
  const inserted = await ctx.entries.insertOrdered(docs);
  if (inserted !== docs.length) throw new Error(`raw insert: ${inserted} of ${docs.length}`);
}

/**
 * Deletes the versions of `users`, a thousand `_id`s at a time: FerretDB's SQLite backend
 * refuses one deleteMany of tens of thousands of documents (too many SQL variables).
 */
async function deleteVersionsOf(ctx: BenchContext, users: string[]) {
  const versions = ctx.db.collection<{ _id: unknown; userId: string }>('entry_versions');
  const ids = (
    await versions.find({ userId: { $in: users } }, { projection: { _id: 1 } }).toArray()
  ).map((doc) => doc._id);
  for (let i = 0; i < ids.length; i += 1000) {
    await versions.deleteMany({ _id: { $in: ids.slice(i, i + 1000) } });
  }
}

/** The quota's recount (services/sync/src/quota/entries-quota.ts): every current version. */
async function recountQuery(ctx: BenchContext, userId: string) {
  const cursor = ctx.db
    .collection('entry_versions')
    .find(
      { userId, superseded: { $ne: true } },
      { projection: { _id: 0, id: 1, revision: 1, deleted: 1, size: 1 } },
    )
    .batchSize(1000);
  for await (const _ of cursor);
}

function pushCase(
  ctx: BenchContext,
  size: number,
  hint: BenchUser,
  cold: BenchUser,
  tag = `${size}`,
): HintCase {
  let hintRevision = 0;
  const rawHint = `raw-hint-${tag}`;
  const rawCold = `raw-cold-${tag}`;
  const docs = (userId: string, after: number) =>
    Array.from({ length: size }, (_, i) => versionDoc(userId, after + i + 1));
  return {
    label: `3 push x${size}`,
    unit: 'entries/s',
    perReq: size,
    call: (base, who) =>
      call(`${base}/sync/push`, {
        method: 'POST',
        headers: { ...auth(who), 'content-type': 'application/json' },
        body: pushBody(size),
      }),
    hintUser: hint,
    coldUser: cold,
    hint: {
      expect: { guess: 'guessed' },
      raw: `encryption record lookup, insertMany of ${size}`,
      op: async () => {
        const batch = docs(rawHint, hintRevision);
        hintRevision += size;
        await encryptionRecord(ctx, rawHint);
        await insertAll(ctx, batch);
      },
    },
    cold: {
      expect: { guess: 'no_head' },
      raw: `highest revision query, encryption record lookup, insertMany of ${size}`,
      op: async () => {
        // Sync looks the record up in the route, before the push reads its head.
        await encryptionRecord(ctx, rawCold);
        const max = await ctx.entries.maxRevision(rawCold);
        await insertAll(ctx, docs(rawCold, max));
      },
    },
    maxOps: PUSHES[size] ?? 3,
    ...(size >= 500 ? { paths: ['gateway' as const] } : {}),
  };
}
