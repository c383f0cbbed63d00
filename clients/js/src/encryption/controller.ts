import {
  adoptMaterial,
  createBundle,
  rewrapForPassphrase,
  type UnlockedKeys,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
} from '../crypto/index.js';
import { type DecryptionError, JournalError } from '../errors.js';
import {
  conflictCurrent,
  fetchBundle,
  LEASE_SECONDS,
  materialOf,
  putBundle,
  type ServerBundle,
} from './bundle.js';
import type { EncryptionCore, EncryptionState } from './core.js';
import type { Migration } from './migration.js';

/** `client.encryption`: end-to-end encryption of the journal (docs/encryption.md). */
export interface EncryptionApi {
  /** `unknown` until learnt after sign-in (or from the local store), then off/locked/unlocked. */
  readonly state: EncryptionState;
  /** The account's data is being encrypted (the bundle's state is `migrating`). */
  readonly migrating: boolean;
  /** Asks the server (`GET /auth/encryption`) and adopts a newer bundle without a prompt. */
  refresh(): Promise<EncryptionState>;
  /**
   * Turns encryption on for good: a new key bundle (version 1, this device leasing the
   * migration), then the migration in the background. Keep the recovery key (24 words): with
   * the passphrase forgotten it is the only way in. Another device won the race:
   * `encryption_already_enabled` (unlock with its passphrase). `passphrase_is_password` when
   * the passphrase is the account password.
   */
  enable(opts: { passphrase: string; accountPassword?: string }): Promise<{ recoveryKey: string }>;
  /** Runs or finishes the migration now (or waits for the device running it); ends `on`. */
  resume(): Promise<void>;
  /** `wrong_passphrase` when the passphrase does not open the current bundle. */
  unlock(passphrase: string): Promise<void>;
  /** Opens the keys with the recovery key and sets a new passphrase (the device unlocks). */
  recover(recoveryKey: string, newPassphrase: string): Promise<void>;
  /** Re-wraps the keys under a new passphrase (nothing is re-encrypted; other devices go on). */
  changePassphrase(current: string, next: string): Promise<void>;
  /** Forgets the keys on this device (memory and local store): it is locked until unlocked. */
  lock(): Promise<void>;
  /** What could not be decrypted (cleared for an entry when a later version decrypts). */
  failures(): DecryptionError[];
}

function requirePassphrase(p: unknown, name = 'passphrase'): asserts p is string {
  if (typeof p !== 'string' || p.length === 0) {
    throw new JournalError('validation_failed', `${name} must be a non-empty string`);
  }
}

export class Encryption implements EncryptionApi {
  constructor(
    private readonly core: EncryptionCore,
    private readonly migration: Migration,
  ) {}

  get state(): EncryptionState {
    return this.core.state;
  }

  get migrating(): boolean {
    return this.core.migrating;
  }

  refresh(): Promise<EncryptionState> {
    return this.core.refresh();
  }

  async enable(opts: {
    passphrase: string;
    accountPassword?: string;
  }): Promise<{ recoveryKey: string }> {
    requirePassphrase(opts?.passphrase);
    if (opts.accountPassword !== undefined && opts.passphrase === opts.accountPassword) {
      throw new JournalError(
        'passphrase_is_password',
        'the encryption passphrase must not be the account password',
      );
    }
    const core = this.core;
    if ((await core.refresh()) !== 'off') throw alreadyEnabled();
    const userId = await core.userId();
    const { material, keys, recoveryKey } = await createBundle(userId, opts.passphrase);
    let bundle: ServerBundle;
    try {
      bundle = await putBundle(core.auth, 0, {
        ...material,
        state: 'migrating',
        migration: { deviceId: core.deviceId, leaseSeconds: LEASE_SECONDS },
      });
    } catch (err) {
      if (!(err instanceof JournalError && err.code === 'version_conflict')) throw err;
      // Another device turned it on first: its keys are the account's; ours are dropped.
      await core.applyBundle(conflictCurrent(err) ?? (await fetchBundle(core.auth)));
      throw alreadyEnabled();
    }
    core.keys = keys;
    await core.applyBundle(bundle);
    this.migration.maybeStart();
    return { recoveryKey };
  }

  resume(): Promise<void> {
    return this.migration.resume();
  }

  async unlock(passphrase: string): Promise<void> {
    requirePassphrase(passphrase);
    const core = this.core;
    // The newest bundle first: after a passphrase change elsewhere the old one is refused
    // (once, no retry). Offline, the bundle last seen is used.
    await core.refresh().catch((err: unknown) => {
      if (!(err instanceof JournalError && err.code === 'network' && core.bundle)) throw err;
    });
    const bundle = core.bundle;
    if (!bundle) throw new JournalError('encryption_not_enabled', 'encryption is not on');
    const keys = await unlockWithPassphrase(await core.userId(), materialOf(bundle), passphrase);
    await core.setKeys(keys);
  }

  async recover(recoveryKey: string, newPassphrase: string): Promise<void> {
    requirePassphrase(recoveryKey, 'recoveryKey');
    requirePassphrase(newPassphrase, 'newPassphrase');
    const core = this.core;
    await core.refresh();
    if (!core.bundle) throw new JournalError('encryption_not_enabled', 'encryption is not on');
    const userId = await core.userId();
    const keys = unlockWithRecoveryKey(userId, materialOf(core.bundle), recoveryKey);
    await this.rewrap(keys, newPassphrase);
  }

  async changePassphrase(current: string, next: string): Promise<void> {
    requirePassphrase(current, 'current');
    requirePassphrase(next, 'next');
    const core = this.core;
    await core.refresh();
    if (!core.bundle) throw new JournalError('encryption_not_enabled', 'encryption is not on');
    const userId = await core.userId();
    const keys = await unlockWithPassphrase(userId, materialOf(core.bundle), current);
    await this.rewrap(keys, next);
  }

  /** A new bundle version with the master key wrapped under `passphrase`; this device unlocks. */
  private async rewrap(keys: UnlockedKeys, passphrase: string): Promise<void> {
    const core = this.core;
    const written = await core.writeBundle(async (b) => ({
      ...(await rewrapForPassphrase(keys, materialOf(b), passphrase)),
      state: b.state,
      migration: core.leaseFor(b),
    }));
    await core.setKeys(adoptMaterial(keys, materialOf(written)));
  }

  async lock(): Promise<void> {
    await this.core.load();
    await this.core.setKeys(undefined);
  }

  failures(): DecryptionError[] {
    return this.core.failures();
  }
}

function alreadyEnabled(): JournalError {
  return new JournalError(
    'encryption_already_enabled',
    'encryption is already on for this account: unlock with its passphrase',
  );
}
