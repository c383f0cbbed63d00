import { badReply } from '../errors.js';
import { errorFromResponse, readJson } from '../http.js';
import { fromServer } from '../store.js';
import * as v from '../validate.js';
import { META, type SyncContext } from './types.js';

/** One pull request from the cursor; applies its page. Resolves with hasMore. */
export async function pullPage(ctx: SyncContext, wait = 0, signal?: AbortSignal): Promise<boolean> {
  await ctx.ready();
  // Encryption on and no keys here: no pull (nothing readable would come of it).
  if (ctx.crypto && (await ctx.crypto.prepare()) === 'locked') return false;
  const [since, generation] = await ctx.store.transaction(
    async (tx) =>
      [Number((await tx.getMeta(META.cursor)) ?? '0'), await tx.getMeta(META.generation)] as const,
  );
  const res = await ctx.auth.request('/sync/changes', {
    query: {
      since,
      limit: ctx.options.pullLimit ?? 10_000,
      ...(wait > 0 ? { wait } : {}),
      // The cursor's store generation: a server restored from a backup since answers 410.
      ...(generation ? { generation } : {}),
    },
    ...(signal ? { signal } : {}),
    timeoutMs: (wait + 30) * 1000,
  });
  if (res.status === 410) {
    const err = await errorFromResponse(res);
    if (err.code !== 'resync_required') throw err;
    await resync(ctx);
    return true;
  }
  if (!res.ok) throw await errorFromResponse(res);
  const page = v.changes(await readJson(res), 'changes');
  if (page.revision < since && page.changes.length > 0) {
    throw badReply(`changes.revision ${page.revision} is behind since=${since}`);
  }
  // Decrypted before the transaction (an IndexedDB transaction ends at a foreign await). A
  // version that cannot be decrypted is stored nowhere; the cursor passes it all the same.
  const versions = ctx.crypto ? await ctx.crypto.decodeEntries(page.changes) : page.changes;
  // Encrypted versions reached a device that just learnt it is locked: pull again after unlock.
  if (versions === 'locked') return false;
  const applied = await ctx.mutex.run(() =>
    ctx.store.transaction(async (tx) => {
      const ids: string[] = [];
      // A resync started meanwhile (another pull got a 410): this page is of the old cursor.
      if ((await tx.getMeta(META.generation)) !== generation) return ids;
      for (const e of versions) {
        if (!e || e.revision <= since) continue;
        const local = await tx.get(e.id);
        // A pending local edit wins locally; its push settles it against this version.
        if (local && (local.seq > 0 || local.revision >= e.revision)) continue;
        await tx.put(fromServer(e));
        ids.push(e.id);
      }
      const cursor = Number((await tx.getMeta(META.cursor)) ?? '0');
      if (page.revision > cursor) await tx.setMeta(META.cursor, String(page.revision));
      if (page.generation !== undefined && page.generation !== generation) {
        await tx.setMeta(META.generation, page.generation);
      }
      return ids;
    }),
  );
  if (applied.length) ctx.events.emit('change', { ids: applied, source: 'remote' });
  ctx.events.emit('progress', {
    phase: 'pull',
    applied: applied.length,
    revision: page.revision,
    hasMore: page.hasMore,
  });
  return page.hasMore;
}

/**
 * Past the purge horizon, or the server's data was restored from a backup (another
 * generation): rebuild from 0, keeping every unpushed local edit.
 */
async function resync(ctx: SyncContext): Promise<void> {
  await ctx.mutex.run(async () => {
    await ctx.store.removeSettled();
    await ctx.store.transaction(async (tx) => {
      await tx.setMeta(META.cursor, '0');
      await tx.setMeta(META.generation, undefined);
    });
  });
  ctx.events.emit('change', { ids: [], source: 'remote' });
}
