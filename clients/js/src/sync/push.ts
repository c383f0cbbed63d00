import { errorFromResponse, readJson } from '../http.js';
import type { OutboxBatch } from '../store.js';
import type { Entry } from '../types.js';
import { newId } from '../util.js';
import * as v from '../validate.js';
import { keepLocalOver, onConflict } from './conflicts.js';
import { changeOf, META, type SyncContext } from './types.js';

/**
 * Pushes one batch of the outbox; resolves with whether anything was pushed. A batch goes under
 * one Idempotency-Key persisted with it, so after a crash the same batch goes again, same key.
 */
export function pushOnce(ctx: SyncContext): Promise<boolean> {
  return ctx.mutex.run(async () => {
    await ctx.ready();
    // Encryption on and no keys here: nothing goes (the outbox waits for the unlock).
    const mode = ctx.crypto ? await ctx.crypto.prepare() : 'plain';
    if (mode === 'locked') return false;
    const batch = await currentBatch(ctx, mode === 'encrypt');
    if (!batch) return false;
    const res = await ctx.auth.request('/sync/push', {
      method: 'POST',
      json: { changes: batch.changes, deviceId: ctx.options.deviceId },
      headers: { 'idempotency-key': batch.key },
    });
    if (!res.ok) return refused(ctx, batch, res);
    const sent = new Set(batch.changes.map((c) => c.id));
    const reply = v.pushReply(await readJson(res), sent);
    const seqs = batch.seqs;
    await ctx.store.transaction(async (tx) => {
      for (const a of reply.accepted) {
        const e = await tx.get(a.id);
        if (!e) continue;
        if (e.seq === seqs[a.id]) {
          await tx.put({ ...e, revision: a.revision, seq: 0, pending: false });
        } else if (a.revision >= e.revision) {
          // Edited again meanwhile: the new edit is now based on the version just accepted.
          await tx.put({ ...e, revision: a.revision });
        }
      }
      await tx.setMeta(META.batch, undefined);
    });
    ctx.events.emit('progress', {
      phase: 'push',
      accepted: reply.accepted.length,
      conflicts: reply.conflicts.length,
    });
    for (const c of reply.conflicts) await conflictWith(ctx, c.id, c.current);
    return true;
  });
}

/** A conflict's server version, decrypted first when it is an envelope. */
async function conflictWith(ctx: SyncContext, id: string, current: Entry | null): Promise<void> {
  if (!current || !ctx.crypto) return onConflict(ctx, id, current);
  const decoded = await ctx.crypto.decodeEntries([current]);
  // Locked meanwhile: the edit stays pending and meets this version again after the unlock.
  if (decoded === 'locked') return;
  const plain = decoded[0];
  // Unreadable (recorded and reported): the local version goes over it.
  if (!plain) return keepLocalOver(ctx, id, current.revision);
  return onConflict(ctx, id, plain);
}

/**
 * The persisted batch in flight, else a fresh one from the outbox (persisted before sent).
 * Encrypted when built, so a batch sent again after a crash is the same bytes under its key.
 */
async function currentBatch(ctx: SyncContext, encrypt: boolean): Promise<OutboxBatch | undefined> {
  const stored = await ctx.store.transaction(async (tx) => {
    const raw = await tx.getMeta(META.batch);
    return raw ? (JSON.parse(raw) as OutboxBatch) : undefined;
  });
  if (stored) return stored;
  const skip = new Set(ctx.manual.map((c) => c.id));
  // Over a quota only deletions go: they may be anywhere in the outbox.
  const limit = ctx.overQuota ? Number.MAX_SAFE_INTEGER : ctx.batchSize + skip.size;
  const pending = (await ctx.store.pending(limit)).filter(
    (e) => !skip.has(e.id) && (!ctx.overQuota || e.deleted),
  );
  const take = pending.slice(0, ctx.batchSize);
  if (take.length === 0) return undefined;
  const changes = take.map(changeOf);
  const fresh: OutboxBatch = {
    key: newId(),
    changes: encrypt && ctx.crypto ? await ctx.crypto.encodeChanges(changes) : changes,
    seqs: Object.fromEntries(take.map((e) => [e.id, e.seq])),
  };
  // Persisted before it is sent: after a crash the same batch goes again, same key.
  await ctx.store.transaction(async (tx) => tx.setMeta(META.batch, JSON.stringify(fresh)));
  return fresh;
}

/** A push answered with an error: shrink, hold back or drop the batch; throws what is left. */
async function refused(ctx: SyncContext, batch: OutboxBatch, res: Response): Promise<boolean> {
  const err = await errorFromResponse(res);
  const dropBatch = () => ctx.store.transaction(async (tx) => tx.setMeta(META.batch, undefined));
  if (err.status === 413 && batch.changes.length > 1) {
    // Too many bytes in one push: smaller batches from now on.
    ctx.batchSize = Math.max(1, Math.floor(batch.changes.length / 2));
    await dropBatch();
    return true;
  }
  if (err.code === 'quota_exceeded') {
    // Over a quota: nothing of the batch was applied; it stays in the outbox. Changes go
    // one at a time (deletions and shrinking edits are accepted), then only deletions
    // until the next local change.
    await dropBatch();
    if (batch.changes.length > 1) ctx.batchSize = 1;
    else {
      if (!ctx.overQuota) ctx.events.emit('error', err);
      ctx.overQuota = err;
    }
    return true;
  }
  // The server refused this batch for good: build a fresh one next time.
  if (!err.transient && err.status !== 401) await dropBatch();
  // Another device turned encryption on: a plaintext batch is rebuilt (encrypted, or held
  // while this device is locked); the edits stay in the outbox either way.
  if (err.code === 'encryption_required' && (await ctx.crypto?.encryptionRequired(batch.changes))) {
    return true;
  }
  throw err;
}
