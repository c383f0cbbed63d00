import { JournalError } from '../errors.js';
import { type StoredEntry, toLocal } from '../store.js';
import type { EntryContent, LocalEntry } from '../types.js';
import { ID_PATTERN, isObject, nowIso } from '../util.js';
import { META, nextSeq, type SyncContext } from './types.js';

/** Local edits: written to the store at once, pending (in the outbox) until pushed. */
export async function writeLocal(
  ctx: SyncContext,
  id: string,
  content: EntryContent | null,
): Promise<LocalEntry> {
  if (!ID_PATTERN.test(id)) {
    throw new JournalError('validation_failed', 'id must match ^[A-Za-z0-9_-]{1,128}$');
  }
  if (content !== null && !isObject(content)) {
    throw new JournalError('validation_failed', 'content must be a JSON object');
  }
  if (content !== null) {
    const size = new TextEncoder().encode(JSON.stringify(content)).length;
    if (size > 1024 * 1024) {
      throw new JournalError('payload_too_large', 'content must be at most 1 MiB serialized');
    }
  }
  await ctx.ready();
  const stored = await ctx.store.transaction(async (tx) => {
    const current = await tx.get(id);
    if (content === null && (!current || current.deleted)) return undefined;
    const e: StoredEntry = {
      id,
      content: content === null ? null : (JSON.parse(JSON.stringify(content)) as EntryContent),
      deleted: content === null,
      revision: current?.revision ?? 0,
      pending: true,
      seq: await nextSeq(tx),
      updatedAt: nowIso(),
    };
    await tx.put(e);
    return e;
  });
  if (!stored) throw new JournalError('not_found', `no entry ${id}`);
  ctx.events.emit('change', { ids: [id], source: 'local' });
  ctx.nudge();
  return toLocal(stored);
}

export async function getLocal(ctx: SyncContext, id: string): Promise<LocalEntry | undefined> {
  await ctx.ready();
  const e = await ctx.store.transaction(async (tx) => tx.get(id));
  return e && !e.deleted ? toLocal(e) : undefined;
}

export async function listLocal(ctx: SyncContext): Promise<LocalEntry[]> {
  await ctx.ready();
  return (await ctx.store.all()).filter((e) => !e.deleted).map(toLocal);
}

/** Number of local edits not yet accepted by the server. */
export async function pendingCount(ctx: SyncContext): Promise<number> {
  await ctx.ready();
  if (ctx.store.pendingCount) return ctx.store.pendingCount();
  return (await ctx.store.pending(Number.MAX_SAFE_INTEGER)).length;
}

/**
 * Queues entries again as they are (content and revision unchanged), so the engine pushes each
 * once more (end-to-end encryption's migration: pushed again, as an envelope). `ids` undefined:
 * every entry not deleted and not already pending. `mark` is written in the same transaction.
 * Such a change that meets a newer version takes it, silently: it was no edit (conflicts.ts).
 * Resolves with how many entries were queued.
 */
export async function requeue(
  ctx: SyncContext,
  ids: string[] | undefined,
  mark?: { key: string; value: string },
): Promise<number> {
  await ctx.ready();
  const wanted = ids && new Set(ids);
  const candidates = (await ctx.store.all()).filter(
    (e) => !e.deleted && e.seq === 0 && (!wanted || wanted.has(e.id)),
  );
  const queued = await ctx.mutex.run(() =>
    ctx.store.transaction(async (tx) => {
      let n = 0;
      let from = 0;
      let to = 0;
      for (const c of candidates) {
        const e = await tx.get(c.id);
        if (!e || e.deleted || e.seq > 0) continue;
        to = await nextSeq(tx);
        from ||= to;
        await tx.put({ ...e, pending: true, seq: to });
        n++;
      }
      // Seqs only grow: an edit made later has a seq past this range (conflicts.ts).
      if (n > 0) {
        const raw = await tx.getMeta(META.requeued);
        const ranges = raw ? (JSON.parse(raw) as [number, number][]) : [];
        await tx.setMeta(META.requeued, JSON.stringify([...ranges, [from, to]]));
      }
      if (mark) await tx.setMeta(mark.key, mark.value);
      return n;
    }),
  );
  if (queued) ctx.events.emit('change', { ids: [], source: 'local' });
  ctx.nudge();
  return queued;
}
