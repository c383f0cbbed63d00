import type { Auth } from './auth.js';
import { badReply, JournalError } from './errors.js';
import type { Emitter } from './events.js';
import { errorFromResponse, readJson } from './http.js';
import {
  fromServer,
  type LocalStore,
  type OutboxBatch,
  type StoredEntry,
  type StoreTx,
  toLocal,
} from './store.js';
import type { Change, Entry, EntryContent, LocalEntry } from './types.js';
import { backoffMs, ID_PATTERN, isObject, Mutex, newId, nowIso, sleep } from './util.js';
import * as v from './validate.js';

export type SyncStatus = 'idle' | 'syncing' | 'live' | 'offline' | 'signed_out' | 'error';

/** A local edit that met a newer server version when pushed. */
export interface Conflict {
  id: string;
  /** The local version (content null when the local edit was a delete). */
  local: LocalEntry;
  /** The server's current version; null when the server has no such entry any more. */
  server: Entry | null;
}

/**
 * What to do with a conflict: keep the server's version, push the local one over it, keep the
 * server's and the local version as a new entry (`'copy'`, the default), leave it for the app
 * (`'manual'`: listed by `conflicts.list()` until `conflicts.resolve()`), or merged content.
 */
export type Resolution = 'server' | 'local' | 'copy' | 'manual' | EntryContent;
export type ConflictResolver = (conflict: Conflict) => Resolution | Promise<Resolution>;

export interface ConflictEvent extends Conflict {
  resolution: 'server' | 'local' | 'copy' | 'manual' | 'merged';
  /** With `'copy'`: the id of the new entry holding the local version. */
  copyId?: string;
}

/** The default policy: the server wins, the local version is kept as a new entry. */
export const serverWinsKeepCopy: ConflictResolver = () => 'copy';

export interface SyncOptions {
  deviceId: string;
  resolver?: ConflictResolver;
  /** Seconds a live pull waits for a change (API maximum 30). Default 25. */
  waitSeconds?: number;
  /**
   * Entries per pull (1..10000). Default 10000, the API's largest: the server cuts each page at
   * 4 MiB of content anyway, so full pages only save round trips on a first sync.
   */
  pullLimit?: number;
  /** Changes per push (1..500). Default 500. */
  batchSize?: number;
  /** First retry delay; doubles per failure, with full jitter, up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const CURSOR = 'cursor';
/** The store generation the cursor belongs to (docs/sync.md, "Restores and the store's generation"). */
const GENERATION = 'generation';
const BATCH = 'batch';
const SEQ = 'seq';
const CONFLICTS = 'conflicts';
const USER = 'userId';
const DEVICE = 'deviceId';

/** A pending edit's change as pushed. */
function changeOf(e: StoredEntry): Change {
  return e.deleted
    ? { id: e.id, baseRevision: e.revision, deleted: true, clientUpdatedAt: e.updatedAt }
    : {
        id: e.id,
        baseRevision: e.revision,
        content: e.content as EntryContent,
        clientUpdatedAt: e.updatedAt,
      };
}

async function nextSeq(tx: StoreTx): Promise<number> {
  const seq = Number((await tx.getMeta(SEQ)) ?? '0') + 1;
  await tx.setMeta(SEQ, String(seq));
  return seq;
}

function sameContent(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The sync engine: local edits go to the store at once and wait in the outbox (the pending
 * entries); a push sends up to 500 of them under one Idempotency-Key persisted with the batch;
 * pulls follow the cursor until `hasMore` is false; live mode long-polls with `wait`.
 */
export class SyncEngine {
  private readonly mutex = new Mutex();
  private opened: Promise<void> | undefined;
  private manual: Conflict[] = [];
  private running = false;
  private loopDone: Promise<void> | undefined;
  private stopController = new AbortController();
  private pollController: AbortController | undefined;
  private nudged = false;
  private online: boolean;
  private wake: (() => void) | undefined;
  private batchSize: number;
  /** A push refused for a quota, until the next local change (see `quotaExceeded`). */
  private overQuota: JournalError | undefined;
  private _status: SyncStatus = 'idle';
  private readonly resolver: ConflictResolver;
  private readonly detach: (() => void) | undefined;

  constructor(
    private readonly auth: Auth,
    readonly store: LocalStore,
    private readonly events: Emitter,
    private readonly options: SyncOptions,
  ) {
    this.resolver = options.resolver ?? serverWinsKeepCopy;
    this.batchSize = Math.min(500, Math.max(1, options.batchSize ?? 500));
    const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
    this.online = typeof nav?.onLine === 'boolean' ? nav.onLine : true;
    const target = globalThis as {
      addEventListener?: (name: string, fn: () => void) => void;
      removeEventListener?: (name: string, fn: () => void) => void;
    };
    if (typeof target.addEventListener === 'function' && typeof nav?.onLine === 'boolean') {
      const up = () => this.setOnline(true);
      const down = () => this.setOnline(false);
      target.addEventListener('online', up);
      target.addEventListener('offline', down);
      this.detach = () => {
        target.removeEventListener?.('online', up);
        target.removeEventListener?.('offline', down);
      };
    }
  }

  get status(): SyncStatus {
    return this._status;
  }

  /**
   * The refusal while the server refuses pushes for a quota (`quota_exceeded`, `err.quota`):
   * those edits stay in the outbox, deletions still go, and the next local change (a delete
   * freeing room, an edit) tries the rest again. Never a tight loop of refused pushes.
   */
  get quotaExceeded(): JournalError | undefined {
    return this.overQuota;
  }

  private setStatus(s: SyncStatus): void {
    if (s === this._status) return;
    this._status = s;
    this.events.emit('status', s);
  }

  /** Opens the store and loads the unresolved conflicts (once). */
  ready(): Promise<void> {
    this.opened ??= (async () => {
      await this.store.open();
      const raw = await this.store.transaction(async (tx) => {
        if (!(await tx.getMeta(DEVICE))) await tx.setMeta(DEVICE, this.options.deviceId);
        return tx.getMeta(CONFLICTS);
      });
      this.manual = raw ? (JSON.parse(raw) as Conflict[]) : [];
    })();
    return this.opened;
  }

  /** A different user signing in on this store: forget the previous user's data. */
  async bindUser(userId: string): Promise<void> {
    await this.ready();
    const previous = await this.store.transaction(async (tx) => tx.getMeta(USER));
    if (previous && previous !== userId) {
      await this.store.clear();
      this.manual = [];
    }
    await this.store.transaction(async (tx) => {
      await tx.setMeta(USER, userId);
      if (!(await tx.getMeta(DEVICE))) await tx.setMeta(DEVICE, this.options.deviceId);
    });
  }

  /** Network reachability from the app (React Native NetInfo, tests); browsers report it. */
  setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.wake?.();
    else {
      this.pollController?.abort();
      if (this.running) this.setStatus('offline');
    }
  }

  // ---------------------------------------------------------------- local edits

  async writeLocal(id: string, content: EntryContent | null): Promise<LocalEntry> {
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
    await this.ready();
    const stored = await this.store.transaction(async (tx) => {
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
    this.events.emit('change', { ids: [id], source: 'local' });
    this.nudge();
    return toLocal(stored);
  }

  async get(id: string): Promise<LocalEntry | undefined> {
    await this.ready();
    const e = await this.store.transaction(async (tx) => tx.get(id));
    return e && !e.deleted ? toLocal(e) : undefined;
  }

  async list(): Promise<LocalEntry[]> {
    await this.ready();
    return (await this.store.all()).filter((e) => !e.deleted).map(toLocal);
  }

  /** Number of local edits not yet accepted by the server. */
  async pendingCount(): Promise<number> {
    await this.ready();
    if (this.store.pendingCount) return this.store.pendingCount();
    return (await this.store.pending(Number.MAX_SAFE_INTEGER)).length;
  }

  /** Tells the live loop to push now instead of waiting for its long-poll. */
  private nudge(): void {
    if (this.overQuota) {
      this.overQuota = undefined;
      this.batchSize = Math.min(500, Math.max(1, this.options.batchSize ?? 500));
    }
    if (!this.running) return;
    this.nudged = true;
    this.pollController?.abort();
    this.wake?.();
  }

  // ---------------------------------------------------------------- push

  /** Pushes one batch of the outbox; resolves with whether anything was pushed. */
  pushOnce(): Promise<boolean> {
    return this.mutex.run(async () => {
      await this.ready();
      const skip = new Set(this.manual.map((c) => c.id));
      let batch = await this.store.transaction(async (tx) => {
        const raw = await tx.getMeta(BATCH);
        return raw ? (JSON.parse(raw) as OutboxBatch) : undefined;
      });
      if (!batch) {
        // Over a quota only deletions go: they may be anywhere in the outbox.
        const limit = this.overQuota ? Number.MAX_SAFE_INTEGER : this.batchSize + skip.size;
        const pending = (await this.store.pending(limit)).filter(
          (e) => !skip.has(e.id) && (!this.overQuota || e.deleted),
        );
        const take = pending.slice(0, this.batchSize);
        if (take.length === 0) return false;
        const fresh: OutboxBatch = {
          key: newId(),
          changes: take.map(changeOf),
          seqs: Object.fromEntries(take.map((e) => [e.id, e.seq])),
        };
        // Persisted before it is sent: after a crash the same batch goes again, same key.
        await this.store.transaction(async (tx) => tx.setMeta(BATCH, JSON.stringify(fresh)));
        batch = fresh;
      }
      const res = await this.auth.request('/sync/push', {
        method: 'POST',
        json: { changes: batch.changes, deviceId: this.options.deviceId },
        headers: { 'idempotency-key': batch.key },
      });
      if (!res.ok) {
        const err = await errorFromResponse(res);
        if (err.status === 413 && batch.changes.length > 1) {
          // Too many bytes in one push: smaller batches from now on.
          this.batchSize = Math.max(1, Math.floor(batch.changes.length / 2));
          await this.store.transaction(async (tx) => tx.setMeta(BATCH, undefined));
          return true;
        }
        if (err.code === 'quota_exceeded') {
          // Over a quota: nothing of the batch was applied; it stays in the outbox. Changes go
          // one at a time (deletions and shrinking edits are accepted), then only deletions
          // until the next local change.
          await this.store.transaction(async (tx) => tx.setMeta(BATCH, undefined));
          if (batch.changes.length > 1) this.batchSize = 1;
          else {
            if (!this.overQuota) this.events.emit('error', err);
            this.overQuota = err;
          }
          return true;
        }
        if (!err.transient && err.status !== 401) {
          // The server refused this batch for good: build a fresh one next time.
          await this.store.transaction(async (tx) => tx.setMeta(BATCH, undefined));
        }
        throw err;
      }
      const sent = new Set(batch.changes.map((c) => c.id));
      const reply = v.pushReply(await readJson(res), sent);
      const seqs = batch.seqs;
      await this.store.transaction(async (tx) => {
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
        await tx.setMeta(BATCH, undefined);
      });
      this.events.emit('progress', {
        phase: 'push',
        accepted: reply.accepted.length,
        conflicts: reply.conflicts.length,
      });
      for (const c of reply.conflicts) await this.onConflict(c.id, c.current);
      return true;
    });
  }

  private async onConflict(id: string, server: Entry | null): Promise<void> {
    const local = await this.store.transaction(async (tx) => tx.get(id));
    if (!local || local.seq === 0) return;
    const conflict: Conflict = { id, local: toLocal(local), server };
    let choice: Resolution;
    try {
      choice = await this.resolver(conflict);
    } catch {
      choice = 'copy';
    }
    await this.settle(conflict, local.seq, choice);
  }

  /** Applies a resolution, unless the entry was edited again meanwhile (then asked again). */
  private async settle(conflict: Conflict, seq: number, choice: Resolution): Promise<boolean> {
    const { id, server } = conflict;
    let copyId: string | undefined;
    const kind: ConflictEvent['resolution'] =
      typeof choice === 'string' ? choice : ('merged' as const);
    const applied = await this.store.transaction(async (tx) => {
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
      if (!this.manual.some((c) => c.id === id)) this.manual.push(conflict);
      await this.saveManual();
    }
    this.events.emit('conflict', { ...conflict, resolution: kind, ...(copyId ? { copyId } : {}) });
    this.events.emit('change', { ids: copyId ? [id, copyId] : [id], source: 'remote' });
    return true;
  }

  private async saveManual(): Promise<void> {
    const raw = this.manual.length ? JSON.stringify(this.manual) : undefined;
    await this.store.transaction(async (tx) => tx.setMeta(CONFLICTS, raw));
  }

  listConflicts(): Conflict[] {
    return this.manual.map((c) => ({ ...c }));
  }

  async resolveConflict(id: string, choice: 'local' | 'server' | EntryContent): Promise<void> {
    await this.ready();
    const conflict = this.manual.find((c) => c.id === id);
    if (!conflict) throw new JournalError('not_found', `no unresolved conflict for ${id}`);
    if (typeof choice !== 'string' && !isObject(choice)) {
      throw new JournalError('validation_failed', "resolve with 'local', 'server' or content");
    }
    await this.mutex.run(async () => {
      const local = await this.store.transaction(async (tx) => tx.get(id));
      this.manual = this.manual.filter((c) => c.id !== id);
      if (local && local.seq > 0) await this.settle(conflict, local.seq, choice);
      await this.saveManual();
    });
    this.nudge();
  }

  // ---------------------------------------------------------------- pull

  /** One pull request; applies its page. Resolves with hasMore. */
  async pullPage(wait = 0, signal?: AbortSignal): Promise<boolean> {
    await this.ready();
    const [since, generation] = await this.store.transaction(
      async (tx) =>
        [Number((await tx.getMeta(CURSOR)) ?? '0'), await tx.getMeta(GENERATION)] as const,
    );
    const res = await this.auth.request('/sync/changes', {
      query: {
        since,
        limit: this.options.pullLimit ?? 10_000,
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
      // Past the purge horizon, or the server's data was restored from a backup (another
      // generation): rebuild from 0, keeping every unpushed local edit.
      await this.mutex.run(async () => {
        await this.store.removeSettled();
        await this.store.transaction(async (tx) => {
          await tx.setMeta(CURSOR, '0');
          await tx.setMeta(GENERATION, undefined);
        });
      });
      this.events.emit('change', { ids: [], source: 'remote' });
      return true;
    }
    if (!res.ok) throw await errorFromResponse(res);
    const page = v.changes(await readJson(res), 'changes');
    if (page.revision < since && page.changes.length > 0) {
      throw badReply(`changes.revision ${page.revision} is behind since=${since}`);
    }
    const applied = await this.mutex.run(() =>
      this.store.transaction(async (tx) => {
        const ids: string[] = [];
        // A resync started meanwhile (another pull got a 410): this page is of the old cursor.
        if ((await tx.getMeta(GENERATION)) !== generation) return ids;
        for (const e of page.changes) {
          if (e.revision <= since) continue;
          const local = await tx.get(e.id);
          // A pending local edit wins locally; its push settles it against this version.
          if (local && (local.seq > 0 || local.revision >= e.revision)) continue;
          await tx.put(fromServer(e));
          ids.push(e.id);
        }
        const cursor = Number((await tx.getMeta(CURSOR)) ?? '0');
        if (page.revision > cursor) await tx.setMeta(CURSOR, String(page.revision));
        if (page.generation !== undefined && page.generation !== generation) {
          await tx.setMeta(GENERATION, page.generation);
        }
        return ids;
      }),
    );
    if (applied.length) this.events.emit('change', { ids: applied, source: 'remote' });
    this.events.emit('progress', {
      phase: 'pull',
      applied: applied.length,
      revision: page.revision,
      hasMore: page.hasMore,
    });
    return page.hasMore;
  }

  async pushAll(): Promise<void> {
    while (await this.pushOnce()) {}
  }

  async pullAll(): Promise<void> {
    while (await this.pullPage(0)) {}
  }

  /**
   * One full round: push the outbox, pull until up to date, push what conflicts produced.
   * Transient failures (no answer, 429, 5xx) are retried `retries` times with jittered backoff
   * honouring `Retry-After`; then the error is thrown (nothing local is lost either way).
   */
  async syncNow(retries = 3): Promise<void> {
    const wasLive = this._status === 'live';
    if (!this.running) this.setStatus('syncing');
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.pushAll();
          await this.pullAll();
          await this.pushAll();
          break;
        } catch (err) {
          if (!(err instanceof JournalError && err.transient) || attempt >= retries) throw err;
          await sleep(this.retryDelay(err, attempt));
        }
      }
      if (!this.running) this.setStatus('idle');
    } catch (err) {
      if (!this.running) this.setStatus(statusOf(err));
      throw err;
    } finally {
      if (wasLive && this.running) this.setStatus('live');
    }
  }

  private retryDelay(err: unknown, attempt: number): number {
    const retryAfter = err instanceof JournalError ? (err.retryAfter ?? 0) * 1000 : 0;
    return Math.max(
      retryAfter,
      backoffMs(attempt, this.options.minBackoffMs ?? 250, this.options.maxBackoffMs),
    );
  }

  // ---------------------------------------------------------------- live loop

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopController = new AbortController();
    this.loopDone = this.loop().finally(() => {
      this.running = false;
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopController.abort();
    this.pollController?.abort();
    this.wake?.();
    await this.loopDone;
    this.loopDone = undefined;
    if (this._status !== 'signed_out') this.setStatus('idle');
  }

  /**
   * Forgets this device's copy of the journal: stops syncing, clears the store (entries, outbox,
   * cursor, conflicts) and removes it where the store can. Pending edits are lost.
   */
  async forgetLocal(): Promise<void> {
    await this.stop();
    await this.mutex.run(async () => {
      await this.ready().catch(() => {});
      await this.store.clear();
      await this.store.destroy?.();
      this.manual = [];
      this.opened = undefined;
    });
    this.events.emit('change', { ids: [], source: 'remote' });
  }

  /** The session ended: stop, and say so. */
  async signedOut(): Promise<void> {
    this.setStatus('signed_out');
    await this.stop();
  }

  get isRunning(): boolean {
    return this.running;
  }

  private waitForWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.stopController.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    const wait = Math.min(30, Math.max(1, this.options.waitSeconds ?? 25));
    while (this.running) {
      if (!this.online) {
        this.setStatus('offline');
        await this.waitForWake(60_000);
        continue;
      }
      try {
        this.setStatus('syncing');
        this.nudged = false;
        await this.pushAll();
        await this.pullAll();
        await this.pushAll();
        failures = 0;
        while (this.running && this.online) {
          if (this.nudged) {
            this.nudged = false;
            this.setStatus('syncing');
            await this.pushAll();
          }
          this.setStatus('live');
          this.pollController = new AbortController();
          let more: boolean;
          try {
            more = await this.pullPage(wait, this.pollController.signal);
          } catch (err) {
            if (err instanceof JournalError && err.code === 'aborted') continue;
            throw err;
          } finally {
            this.pollController = undefined;
          }
          if (more) await this.pullAll();
          await this.pushAll();
        }
      } catch (err) {
        if (!this.running) break;
        if (err instanceof JournalError && err.code === 'aborted') continue;
        const status = statusOf(err);
        this.setStatus(status);
        if (status === 'signed_out') {
          this.running = false;
          break;
        }
        this.events.emit('error', err as Error);
        failures++;
        // A local edit (nudge) or the network coming back ends the wait at once: an edit made
        // during a backoff is pushed now, not up to 30 s later.
        await this.waitForWake(this.retryDelay(err, failures - 1));
      }
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.detach?.();
    await this.store.close();
  }
}

function statusOf(err: unknown): SyncStatus {
  if (err instanceof JournalError) {
    if (err.code === 'signed_out') return 'signed_out';
    if (err.code === 'network') return 'offline';
  }
  return 'error';
}
