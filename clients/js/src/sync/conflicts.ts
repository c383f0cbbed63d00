import { JournalError } from '../errors.js';
import { fromServer, toLocal } from '../store.js';
import type { Entry, EntryContent } from '../types.js';
import { isObject, newId, nowIso } from '../util.js';
import {
  type Conflict,
  type ConflictEvent,
  META,
  nextSeq,
  type Resolution,
  type SyncContext,
  sameContent,
  wasRequeued,
} from './types.js';

/** A pushed change met a newer server version: ask the resolver, apply its answer. */
export async function onConflict(
  ctx: SyncContext,
  id: string,
  server: Entry | null,
): Promise<void> {
  const local = await ctx.store.transaction(async (tx) => tx.get(id));
  if (!local || local.seq === 0) return;
  if (await takeOverRequeued(ctx, id, local.seq, server)) return;
  const conflict: Conflict = { id, local: toLocal(local), server };
  let choice: Resolution;
  try {
    choice = await ctx.resolver(conflict);
  } catch {
    choice = 'copy';
  }
  await settle(ctx, conflict, local.seq, choice);
}

/**
 * A requeued entry (sent again as it was, not edited) met a newer version: the server's
 * version simply replaces it, no conflict to report. True when that was the case.
 */
async function takeOverRequeued(
  ctx: SyncContext,
  id: string,
  seq: number,
  server: Entry | null,
): Promise<boolean> {
  const taken = await ctx.store.transaction(async (tx) => {
    const cur = await tx.get(id);
    if (!cur || cur.seq !== seq || !(await wasRequeued(tx, seq))) return false;
    if (server) await tx.put(fromServer(server));
    else await tx.remove(id);
    return true;
  });
  if (taken) ctx.events.emit('change', { ids: [id], source: 'remote' });
  return taken;
}

/**
 * A conflict whose server version could not be decrypted (recorded and reported by the
 * crypto hooks): the pending local version is pushed over it, based on its revision.
 */
export async function keepLocalOver(ctx: SyncContext, id: string, revision: number): Promise<void> {
  await ctx.store.transaction(async (tx) => {
    const cur = await tx.get(id);
    if (cur && cur.seq > 0 && cur.revision < revision) await tx.put({ ...cur, revision });
  });
}

/** Applies a resolution, unless the entry was edited again meanwhile (then asked again). */
async function settle(
  ctx: SyncContext,
  conflict: Conflict,
  seq: number,
  choice: Resolution,
): Promise<boolean> {
  const { id, server } = conflict;
  let copyId: string | undefined;
  const kind: ConflictEvent['resolution'] =
    typeof choice === 'string' ? choice : ('merged' as const);
  const applied = await ctx.store.transaction(async (tx) => {
    const cur = await tx.get(id);
    if (!cur || cur.seq !== seq) return false;
    const base = server?.revision ?? 0;
    const serverVersion = server ? fromServer(server) : undefined;
    const takeServer = async () => {
      if (serverVersion) await tx.put(serverVersion);
      else await tx.remove(id);
    };
    if (kind === 'manual') return true;
    if (kind === 'server') await takeServer();
    else if (kind === 'local' || !server) {
      // Nothing on the server to lose (null): push the local version over it.
      await tx.put({ ...cur, revision: base });
    } else if (kind === 'merged') {
      await tx.put({
        ...cur,
        content: choice as EntryContent,
        deleted: false,
        revision: base,
        seq: await nextSeq(tx),
        updatedAt: nowIso(),
      });
    } else {
      // 'copy': server wins; a local edit (not a delete) lives on as a new entry.
      const same = !cur.deleted && !server.deleted && sameContent(cur.content, server.content);
      if (!cur.deleted && !same) {
        copyId = newId();
        await tx.put({
          id: copyId,
          content: cur.content,
          deleted: false,
          revision: 0,
          pending: true,
          seq: await nextSeq(tx),
          updatedAt: cur.updatedAt,
        });
      }
      await takeServer();
    }
    return true;
  });
  if (!applied) return false;
  if (kind === 'manual') {
    if (!ctx.manual.some((c) => c.id === id)) ctx.manual.push(conflict);
    await saveManual(ctx);
  }
  ctx.events.emit('conflict', { ...conflict, resolution: kind, ...(copyId ? { copyId } : {}) });
  ctx.events.emit('change', { ids: copyId ? [id, copyId] : [id], source: 'remote' });
  return true;
}

async function saveManual(ctx: SyncContext): Promise<void> {
  const raw = ctx.manual.length ? JSON.stringify(ctx.manual) : undefined;
  await ctx.store.transaction(async (tx) => tx.setMeta(META.conflicts, raw));
}

export function listConflicts(ctx: SyncContext): Conflict[] {
  return ctx.manual.map((c) => ({ ...c }));
}

/** The app's answer to a `'manual'` conflict. */
export async function resolveConflict(
  ctx: SyncContext,
  id: string,
  choice: 'local' | 'server' | EntryContent,
): Promise<void> {
  await ctx.ready();
  const conflict = ctx.manual.find((c) => c.id === id);
  if (!conflict) throw new JournalError('not_found', `no unresolved conflict for ${id}`);
  if (typeof choice !== 'string' && !isObject(choice)) {
    throw new JournalError('validation_failed', "resolve with 'local', 'server' or content");
  }
  await ctx.mutex.run(async () => {
    const local = await ctx.store.transaction(async (tx) => tx.get(id));
    ctx.manual = ctx.manual.filter((c) => c.id !== id);
    if (local && local.seq > 0) await settle(ctx, conflict, local.seq, choice);
    await saveManual(ctx);
  });
  ctx.nudge();
}
