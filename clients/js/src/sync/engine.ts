import type { Auth } from '../auth.js';
import { JournalError } from '../errors.js';
import type { Emitter } from '../events.js';
import type { LocalStore } from '../store.js';
import type { EntryContent, LocalEntry } from '../types.js';
import { backoffMs, Mutex, sleep } from '../util.js';
import { listConflicts, resolveConflict } from './conflicts.js';
import { LiveLoop, statusOf } from './live.js';
import { getLocal, listLocal, pendingCount, requeue, writeLocal } from './local.js';
import { pullPage } from './pull.js';
import { pushOnce } from './push.js';
import {
  type Conflict,
  defaultBatchSize,
  META,
  type SyncContext,
  type SyncCrypto,
  type SyncOptions,
  type SyncStatus,
  serverWinsKeepCopy,
} from './types.js';

/**
 * The sync engine: local edits go to the store at once and wait in the outbox (the pending
 * entries); a push sends up to 500 of them under one Idempotency-Key persisted with the batch;
 * pulls follow the cursor until `hasMore` is false; live mode long-polls with `wait`.
 * The steps live beside it: local.ts, push.ts, pull.ts, conflicts.ts, live.ts.
 */
export class SyncEngine {
  private readonly ctx: SyncContext;
  private readonly live: LiveLoop;
  private opened: Promise<void> | undefined;
  private _status: SyncStatus = 'idle';

  constructor(
    auth: Auth,
    readonly store: LocalStore,
    private readonly events: Emitter,
    private readonly options: SyncOptions,
    crypto?: SyncCrypto,
  ) {
    this.ctx = {
      crypto,
      auth,
      store,
      events,
      options,
      mutex: new Mutex(),
      resolver: options.resolver ?? serverWinsKeepCopy,
      manual: [],
      batchSize: defaultBatchSize(options),
      overQuota: undefined,
      ready: () => this.ready(),
      nudge: () => this.nudge(),
    };
    this.live = new LiveLoop(
      {
        pushAll: () => this.pushAll(),
        pullAll: () => this.pullAll(),
        pullPage: (wait, signal) => this.pullPage(wait, signal),
        setStatus: (s) => this.setStatus(s),
        reportError: (err) => this.events.emit('error', err),
        retryDelay: (err, attempt) => this.retryDelay(err, attempt),
        locked: () => this.ctx.crypto?.locked ?? false,
      },
      options.waitSeconds,
    );
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
    return this.ctx.overQuota;
  }

  get isRunning(): boolean {
    return this.live.isRunning;
  }

  private setStatus(next: SyncStatus): void {
    // Locked, the engine does nothing: no round or poll to report, only that it waits.
    const locked = this.ctx.crypto?.locked && ['idle', 'syncing', 'live'].includes(next);
    const s = locked ? 'locked' : next;
    if (s === this._status) return;
    this._status = s;
    this.events.emit('status', s);
  }

  /** Opens the store and loads the unresolved conflicts (once). */
  ready(): Promise<void> {
    this.opened ??= (async () => {
      await this.store.open();
      const raw = await this.store.transaction(async (tx) => {
        if (!(await tx.getMeta(META.device))) await tx.setMeta(META.device, this.options.deviceId);
        return tx.getMeta(META.conflicts);
      });
      this.ctx.manual = raw ? (JSON.parse(raw) as Conflict[]) : [];
    })();
    return this.opened;
  }

  /** A different user signing in on this store: forget the previous user's data. */
  async bindUser(userId: string): Promise<void> {
    await this.ready();
    const previous = await this.store.transaction(async (tx) => tx.getMeta(META.user));
    if (previous && previous !== userId) {
      await this.store.clear();
      this.ctx.manual = [];
    }
    await this.store.transaction(async (tx) => {
      await tx.setMeta(META.user, userId);
      if (!(await tx.getMeta(META.device))) await tx.setMeta(META.device, this.options.deviceId);
    });
  }

  /** Network reachability from the app (React Native NetInfo, tests); browsers report it. */
  setOnline(online: boolean): void {
    this.live.setOnline(online);
  }

  /** A local change: a quota refusal is tried again, and the live loop pushes now. */
  private nudge(): void {
    if (this.ctx.overQuota) {
      this.ctx.overQuota = undefined;
      this.ctx.batchSize = defaultBatchSize(this.options);
    }
    this.live.nudge();
  }

  /**
   * The encryption state changed (unlocked, locked, turned on elsewhere): the status says so,
   * and the live loop goes at once (after an unlock: the waiting outbox and the pull).
   */
  cryptoChanged(): void {
    if (this.ctx.crypto?.locked) this.setStatus('locked');
    else if (this._status === 'locked') this.setStatus(this.isRunning ? 'syncing' : 'idle');
    this.live.nudge();
  }

  // ------------------------------------------------------------ local edits (local.ts)

  writeLocal(id: string, content: EntryContent | null): Promise<LocalEntry> {
    return writeLocal(this.ctx, id, content);
  }

  get(id: string): Promise<LocalEntry | undefined> {
    return getLocal(this.ctx, id);
  }

  list(): Promise<LocalEntry[]> {
    return listLocal(this.ctx);
  }

  /** Number of local edits not yet accepted by the server. */
  pendingCount(): Promise<number> {
    return pendingCount(this.ctx);
  }

  /** Queues entries again as they are (every settled one when `ids` is undefined). */
  requeue(ids?: string[], mark?: { key: string; value: string }): Promise<number> {
    return requeue(this.ctx, ids, mark);
  }

  // ------------------------------------------------------------ conflicts (conflicts.ts)

  listConflicts(): Conflict[] {
    return listConflicts(this.ctx);
  }

  resolveConflict(id: string, choice: 'local' | 'server' | EntryContent): Promise<void> {
    return resolveConflict(this.ctx, id, choice);
  }

  // ------------------------------------------------------------ push and pull

  /** Pushes one batch of the outbox; resolves with whether anything was pushed. */
  pushOnce(): Promise<boolean> {
    return pushOnce(this.ctx);
  }

  /** One pull request; applies its page. Resolves with hasMore. */
  pullPage(wait = 0, signal?: AbortSignal): Promise<boolean> {
    return pullPage(this.ctx, wait, signal);
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
    if (!this.isRunning) this.setStatus('syncing');
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
      if (!this.isRunning) this.setStatus('idle');
    } catch (err) {
      if (!this.isRunning) this.setStatus(statusOf(err));
      throw err;
    } finally {
      if (wasLive && this.isRunning) this.setStatus('live');
    }
  }

  private retryDelay(err: unknown, attempt: number): number {
    const retryAfter = err instanceof JournalError ? (err.retryAfter ?? 0) * 1000 : 0;
    return Math.max(
      retryAfter,
      backoffMs(attempt, this.options.minBackoffMs ?? 250, this.options.maxBackoffMs),
    );
  }

  // ------------------------------------------------------------ live mode (live.ts)

  start(): void {
    this.live.start();
  }

  async stop(): Promise<void> {
    await this.live.stop();
    if (this._status !== 'signed_out') this.setStatus('idle');
  }

  /**
   * Forgets this device's copy of the journal: stops syncing, clears the store (entries, outbox,
   * cursor, conflicts) and removes it where the store can. Pending edits are lost.
   */
  async forgetLocal(): Promise<void> {
    await this.stop();
    await this.ctx.mutex.run(async () => {
      await this.ready().catch(() => {});
      await this.store.clear();
      await this.store.destroy?.();
      this.ctx.manual = [];
      this.opened = undefined;
    });
    this.events.emit('change', { ids: [], source: 'remote' });
  }

  /** The session ended: stop, and say so. */
  async signedOut(): Promise<void> {
    this.setStatus('signed_out');
    await this.stop();
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.live.dispose();
    await this.store.close();
  }
}
