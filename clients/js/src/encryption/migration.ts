import type { Attachments } from '../attachments.js';
import { JournalError } from '../errors.js';
import { errorFromResponse } from '../http.js';
import type { EntryContent, LocalEntry } from '../types.js';
import { backoffMs, sleep } from '../util.js';
import { foreignLease, materialOf, type ServerBundle } from './bundle.js';
import type { EncryptionCore, MigrationProgress } from './core.js';
import { migrateFiles, type Step } from './migration-files.js';

/**
 * Turning encryption on for an existing journal (docs/encryption.md "Turning it on for an
 * existing journal"): resumable from any point, its progress in the local store's meta. Runs
 * on the device that holds the migration lease; another device's live lease is waited out.
 */

/** What the migration drives: the sync engine's steps and the attachments. */
export interface MigrationHost {
  pullAll(): Promise<void>;
  pushOnce(): Promise<boolean>;
  pendingCount(): Promise<number>;
  requeue(ids?: string[], mark?: { key: string; value: string }): Promise<number>;
  list(): Promise<LocalEntry[]>;
  put(id: string, content: EntryContent): Promise<LocalEntry>;
  readonly attachments: Attachments;
}

/** Store meta: the migration's progress (attachment ids replaced, entries queued). */
export const MIGRATION_META = 'e2e.migration';

export interface MigrationRecord {
  /** Plaintext attachment id → the id of its encrypted copy. */
  mapping: Record<string, string>;
  /** Old attachments already deleted. */
  deleted: string[];
  /** Every entry was queued again (once). */
  requeued: boolean;
}

const RENEW_MS = 40_000;
const FINISH_ROUNDS = 5;

export class Migration {
  private running: Promise<void> | undefined;
  private stopped = false;
  private lost = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;

  constructor(
    private readonly core: EncryptionCore,
    private readonly host: MigrationHost,
  ) {
    core.listeners.add(() => this.maybeStart());
  }

  /** In the background, when due: the bundle migrating, keys held, no live foreign lease. */
  maybeStart(): void {
    const b = this.core.bundle;
    if (this.stopped || this.running || !b || b.state !== 'migrating' || !this.core.keys) return;
    if (foreignLease(b, this.core.deviceId)) {
      this.later(Date.parse(b.migration?.leaseExpiresAt ?? '') - Date.now() + 1000);
      return;
    }
    this.run().then(
      () => {
        this.failures = 0;
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (!(err instanceof JournalError && err.code === 'migration_in_progress')) {
          this.core.events.emit('error', err as Error);
        }
        this.later(backoffMs(this.failures++, 2000, 60_000));
      },
    );
  }

  private later(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.core.refresh().then(
          () => this.maybeStart(),
          () => this.later(backoffMs(this.failures++, 2000, 60_000)),
        );
      },
      Math.max(0, ms),
    );
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Runs (or joins) the migration on this device. */
  run(): Promise<void> {
    this.running ??= this.migrate().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** `client.encryption.resume()`: migrates now, or waits for the device that does; ends 'on'. */
  async resume(): Promise<void> {
    for (;;) {
      this.checkStopped();
      await this.core.refresh();
      const b = this.core.bundle;
      if (!b) throw new JournalError('encryption_not_enabled', 'encryption is not on');
      if (b.state === 'on') return;
      if (!this.core.keys) throw new JournalError('encryption_locked', 'unlock first');
      if (foreignLease(b, this.core.deviceId)) {
        const left = Date.parse(b.migration?.leaseExpiresAt ?? '') - Date.now();
        await sleep(Math.min(Math.max(left + 500, 200), 3000));
        continue;
      }
      try {
        await this.run();
      } catch (err) {
        if (!(err instanceof JournalError && err.code === 'migration_in_progress')) throw err;
      }
    }
  }

  /** The client closes: no further step, no timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  private checkStopped(): void {
    if (this.stopped) throw new JournalError('aborted', 'the client was closed');
  }

  private check = (): void => {
    this.checkStopped();
    if (this.lost)
      throw new JournalError('migration_in_progress', 'the lease went to another device');
  };

  private emit = (migration: MigrationProgress): void => {
    this.core.emit(migration);
  };

  private async migrate(): Promise<void> {
    const core = this.core;
    await core.refresh();
    const start = core.bundle;
    if (!start || start.state === 'on' || !core.keys) return;
    if (foreignLease(start, core.deviceId)) {
      throw new JournalError('migration_in_progress', 'another device is migrating');
    }
    this.lost = false;
    await this.takeLease();
    const renew = setInterval(() => void this.renew(), RENEW_MS);
    (renew as { unref?: () => void }).unref?.();
    try {
      this.check();
      await this.host.pullAll();
      const step = this.step();
      await migrateFiles(step, undefined);
      await this.entries();
      await this.finish(step);
      this.check();
      await core.writeBundle((b) => ({ ...materialOf(b), state: 'on', migration: null }), 3);
      await core.store.transaction(async (tx) => tx.setMeta(MIGRATION_META, undefined));
      this.emit({ phase: 'done', done: 1, total: 1 });
    } finally {
      clearInterval(renew);
    }
  }

  private takeLease(): Promise<ServerBundle> {
    return this.core.writeBundle((b) => {
      if (b.state === 'on' || foreignLease(b, this.core.deviceId)) {
        throw new JournalError('migration_in_progress', 'another device migrates (or finished)');
      }
      return { ...materialOf(b), state: b.state, migration: this.core.leaseFor(b, true) };
    }, 3);
  }

  private async renew(): Promise<void> {
    if (this.stopped || this.lost) return;
    try {
      await this.takeLease();
    } catch (err) {
      if (err instanceof JournalError && err.code === 'migration_in_progress') this.lost = true;
      // Anything else (offline): the next renewal tries again; the lease has 80 s left.
    }
  }

  private step(): Step {
    return {
      core: this.core,
      host: this.host,
      check: this.check,
      emit: this.emit,
      record: () => this.record(),
      save: (r) =>
        this.core.store.transaction(async (tx) => tx.setMeta(MIGRATION_META, JSON.stringify(r))),
      pushAll: () => this.pushAll(),
    };
  }

  private async record(): Promise<MigrationRecord> {
    const raw = await this.core.store.transaction(async (tx) => tx.getMeta(MIGRATION_META));
    const r = raw ? (JSON.parse(raw) as Partial<MigrationRecord>) : {};
    return { mapping: r.mapping ?? {}, deleted: r.deleted ?? [], requeued: r.requeued ?? false };
  }

  /** Pushes the outbox, reporting the entries phase. */
  private async pushAll(total?: number): Promise<void> {
    for (;;) {
      this.check();
      if (!(await this.host.pushOnce())) return;
      if (total !== undefined) {
        const left = await this.host.pendingCount();
        this.emit({ phase: 'entries', done: Math.max(0, total - left), total });
      }
    }
  }

  /** Every entry queued again (once, recorded in the same transaction), then pushed. */
  private async entries(): Promise<void> {
    const rec = await this.record();
    if (!rec.requeued) {
      const next = { ...rec, requeued: true };
      await this.host.requeue(undefined, { key: MIGRATION_META, value: JSON.stringify(next) });
    }
    const total = await this.host.pendingCount();
    this.emit({ phase: 'entries', done: 0, total });
    await this.pushAll(total);
  }

  /**
   * Both finish calls; what they still list in plaintext is pushed or re-uploaded, then they
   * are asked again. Attachments first: replacing one rewrites the entries that name it.
   */
  private async finish(step: Step): Promise<void> {
    this.emit({ phase: 'finishing', done: 0, total: 2 });
    await this.finishCall('/attachments/encryption/finish', async (p) => {
      await migrateFiles(step, strings(p.attachments), strings(p.qiniuKeys));
    });
    this.emit({ phase: 'finishing', done: 1, total: 2 });
    await this.finishCall('/sync/encryption/finish', async (p) => {
      await this.host.pullAll();
      await this.host.requeue(strings(p.entries));
      await this.pushAll();
    });
    this.emit({ phase: 'finishing', done: 2, total: 2 });
  }

  private async finishCall(
    path: string,
    redo: (problem: Record<string, unknown>) => Promise<void>,
  ): Promise<void> {
    for (let round = 0; ; round++) {
      this.check();
      const res = await this.core.auth.request(path, { method: 'POST', json: {} });
      if (res.ok) {
        await res.body?.cancel();
        return;
      }
      const err = await errorFromResponse(res);
      if (err.code !== 'plaintext_remaining' || round >= FINISH_ROUNDS) throw err;
      await redo(err.problem ?? {});
    }
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
