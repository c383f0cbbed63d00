import type { Auth } from '../auth.js';
import {
  adoptMaterial,
  deserializeKeys,
  serializeKeys,
  type UnlockedKeys,
} from '../crypto/index.js';
import { type DecryptionError, JournalError } from '../errors.js';
import type { Emitter } from '../events.js';
import type { LocalStore } from '../store.js';
import {
  type BundleWrite,
  conflictCurrent,
  fetchBundle,
  LEASE_SECONDS,
  materialOf,
  putBundle,
  type ServerBundle,
} from './bundle.js';

export type EncryptionState = 'unknown' | 'off' | 'locked' | 'unlocked';

export interface MigrationProgress {
  phase: 'attachments' | 'entries' | 'finishing' | 'done';
  done: number;
  total: number;
}

/** The `encryption` event: the state, and while this device migrates, how far it got. */
export interface EncryptionEvent {
  state: EncryptionState;
  migration?: MigrationProgress;
}

/** Store meta: the unlocked keys (the store holds the journal in plaintext already). */
export const KEYS_META = 'e2e.keys';
/** Store meta: the last bundle seen, so a reopened app knows its state before any request. */
export const BUNDLE_META = 'e2e.bundle';

/**
 * The device's end-to-end encryption state: the account's bundle as last seen, the unlocked
 * keys (memory and the local store), and what could not be decrypted. The sync hooks
 * (codec.ts), the attachments, the migration and `client.encryption` share it.
 */
export class EncryptionCore {
  private _state: EncryptionState = 'unknown';
  bundle: ServerBundle | undefined;
  keys: UnlockedKeys | undefined;
  private readonly failed = new Map<string, DecryptionError>();
  private loading: Promise<void> | undefined;
  private refreshing: Promise<EncryptionState> | undefined;
  private boundUser: string | undefined;
  /** Told when the state or the bundle changes (the engine wakes; the migration may start). */
  readonly listeners = new Set<() => void>();

  constructor(
    readonly auth: Auth,
    readonly store: LocalStore,
    readonly events: Emitter,
    readonly deviceId: string,
    /** Opens the store (the sync engine's `ready`). */
    private readonly open: () => Promise<void>,
  ) {}

  get state(): EncryptionState {
    return this._state;
  }

  get migrating(): boolean {
    return this.bundle?.state === 'migrating';
  }

  /** Reads the persisted keys and bundle (once per opening of the store). */
  load(): Promise<void> {
    this.loading ??= (async () => {
      await this.open();
      const [rawKeys, rawBundle] = await this.store.transaction(
        async (tx) => [await tx.getMeta(KEYS_META), await tx.getMeta(BUNDLE_META)] as const,
      );
      if (rawBundle && !this.bundle) this.bundle = JSON.parse(rawBundle) as ServerBundle;
      if (rawKeys && !this.keys) {
        try {
          this.keys = deserializeKeys(rawKeys);
        } catch {
          this.keys = undefined;
        }
      }
      if (this._state === 'unknown' && this.bundle)
        this.setState(this.keys ? 'unlocked' : 'locked');
    })();
    return this.loading;
  }

  /** The signed-in user's id (the keys are bound to it). */
  async userId(): Promise<string> {
    const user = await this.auth.currentUser();
    if (!user) throw new JournalError('signed_out', 'not signed in');
    return user.id;
  }

  /** `GET /auth/encryption`, then adopt what it says (one request at a time). */
  refresh(): Promise<EncryptionState> {
    this.refreshing ??= (async () => {
      await this.load();
      const bundle = await fetchBundle(this.auth);
      await this.applyBundle(bundle);
      return this._state;
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * Takes the server's bundle. A newer version is adopted with the master key held (a
   * passphrase change elsewhere: no prompt here). Encryption is never turned off by a reply:
   * a device that has seen it on keeps encrypting (a server answering "off" cannot downgrade it).
   */
  async applyBundle(bundle: ServerBundle | null): Promise<void> {
    await this.load();
    const userId = await this.userId();
    if (this.keys && this.keys.userId !== userId) await this.setKeys(undefined);
    if (!bundle) {
      if (!this.bundle) this.setState('off');
      return;
    }
    const previous = this.bundle;
    if (previous && previous.version > bundle.version) return;
    if (this.keys && (!previous || bundle.version > previous.version)) {
      try {
        this.keys = adoptMaterial(this.keys, materialOf(bundle));
      } catch (err) {
        // Not a bundle the master key opens: keep the keys, say so.
        this.events.emit('error', err as Error);
      }
    }
    this.bundle = bundle;
    await this.persist();
    // A new version is news too (a lease taken or ended, the migration finished).
    this.setState(this.keys ? 'unlocked' : 'locked', previous?.version !== bundle.version);
  }

  /**
   * Writes the next bundle version (compare-and-swap on the version last seen): `change` gets
   * the current bundle. A lost race adopts the bundle that won and tries again, `retries` times.
   */
  async writeBundle(
    change: (current: ServerBundle) => BundleWrite | Promise<BundleWrite>,
    retries = 1,
  ): Promise<ServerBundle> {
    for (let attempt = 0; ; attempt++) {
      if (!this.bundle) await this.refresh();
      const current = this.bundle;
      if (!current) throw new JournalError('encryption_not_enabled', 'encryption is not on');
      try {
        const next = await putBundle(this.auth, current.version, await change(current));
        await this.applyBundle(next);
        return next;
      } catch (err) {
        if (!(err instanceof JournalError && err.code === 'version_conflict') || attempt >= retries)
          throw err;
        const won = conflictCurrent(err);
        if (won) await this.applyBundle(won);
        else await this.refresh();
      }
    }
  }

  /**
   * The lease a write carries: this device's renewed while it holds it; another device's live
   * lease as it stands (a passphrase change does not take the migration over); else none.
   */
  leaseFor(b: ServerBundle, take = false): BundleWrite['migration'] {
    const m = b.migration;
    const left = m ? Math.ceil((Date.parse(m.leaseExpiresAt) - Date.now()) / 1000) : 0;
    if (take || (m?.deviceId === this.deviceId && left > 0)) {
      return { deviceId: this.deviceId, leaseSeconds: LEASE_SECONDS };
    }
    return m && left > 0 ? { deviceId: m.deviceId, leaseSeconds: Math.min(left, 300) } : null;
  }

  /** Holds (or forgets: undefined) the unlocked keys, in memory and in the local store. */
  async setKeys(keys: UnlockedKeys | undefined): Promise<void> {
    this.keys = keys;
    await this.persist();
    if (this.bundle) this.setState(keys ? 'unlocked' : 'locked');
  }

  private async persist(): Promise<void> {
    const keys = this.keys ? serializeKeys(this.keys) : undefined;
    const bundle = this.bundle ? JSON.stringify(this.bundle) : undefined;
    await this.store.transaction(async (tx) => {
      await tx.setMeta(KEYS_META, keys);
      await tx.setMeta(BUNDLE_META, bundle);
    });
  }

  /**
   * Another user signed in on this store (the engine cleared it): nothing of the previous
   * user's state may remain in memory.
   */
  bind(userId: string): void {
    if (this.boundUser !== undefined && this.boundUser !== userId) this.reset();
    else if (this.keys && this.keys.userId !== userId) this.reset();
    this.boundUser = userId;
  }

  /** Forgets everything in memory (the store was cleared, or signed out): state unknown. */
  reset(): void {
    this.keys = undefined;
    this.bundle = undefined;
    this.failed.clear();
    this.loading = undefined;
    this.setState('unknown');
  }

  /** Sign-out: the keys leave the device (memory and store); the state is learnt again. */
  async forgetKeys(): Promise<void> {
    this.keys = undefined;
    this.bundle = undefined;
    await this.store
      .transaction(async (tx) => {
        await tx.setMeta(KEYS_META, undefined);
        await tx.setMeta(BUNDLE_META, undefined);
      })
      .catch(() => {});
    this.reset();
  }

  private setState(state: EncryptionState, force = false): void {
    if (state === this._state && !force) return;
    this._state = state;
    this.emit();
    for (const fn of this.listeners) fn();
  }

  emit(migration?: MigrationProgress): void {
    this.events.emit('encryption', { state: this._state, ...(migration ? { migration } : {}) });
  }

  /** What the engine could not decrypt (an entry or attachment id each, the latest failure). */
  failures(): DecryptionError[] {
    return [...this.failed.values()];
  }

  recordFailure(id: string, err: DecryptionError): void {
    this.failed.set(id, err);
    this.events.emit('decryptionFailed', err);
  }

  clearFailure(id: string): void {
    this.failed.delete(id);
  }
}
