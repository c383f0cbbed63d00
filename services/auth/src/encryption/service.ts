import {
  type Bundle,
  type BundleWrite,
  type EncryptionStatus,
  type Logger,
  ProblemError,
} from '@journal/shared';
import type { BundleDoc, BundlesRepository } from './repository.js';
import { bundleId } from './repository.js';

export interface EncryptionServiceDeps {
  repository: BundlesRepository;
  logger: Logger;
  now?: () => Date;
}

/** A stored version as the API answers it. */
export function toBundle(doc: BundleDoc): Bundle {
  return {
    version: doc.version,
    state: doc.state,
    kdf: doc.kdf,
    passwordWrappedKey: doc.passwordWrappedKey,
    recoveryWrappedKey: doc.recoveryWrappedKey,
    contentKeys: doc.contentKeys,
    currentKid: doc.currentKid,
    migration: doc.migration
      ? {
          deviceId: doc.migration.deviceId,
          leaseExpiresAt: doc.migration.leaseExpiresAt.toISOString(),
        }
      : null,
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
  };
}

function versionConflict(current: BundleDoc | null): ProblemError {
  return new ProblemError(
    'version_conflict',
    current
      ? `the current key bundle is version ${current.version}`
      : 'the account has no key bundle yet (expectedVersion 0)',
    { extensions: { current: current ? toBundle(current) : null } },
  );
}

/**
 * What a write may not do to the current bundle: drop a content key (data encrypted with it
 * could never be read again), go from `on` back to `migrating`, or name another migrating
 * device while a live lease is held (docs/encryption.md, "The key bundle").
 */
function checkChange(current: BundleDoc, write: BundleWrite, now: Date): void {
  const kept = new Set(write.contentKeys.map((key) => key.kid));
  const dropped = current.contentKeys.map((key) => key.kid).filter((kid) => !kept.has(kid));
  if (dropped.length > 0) {
    throw new ProblemError(
      'invalid_bundle_change',
      `a write must keep every content key; it drops ${dropped.slice(0, 5).join(', ')}`,
      { errors: [{ path: 'bundle.contentKeys', message: 'must keep every current kid' }] },
    );
  }
  if (current.state === 'on' && write.state === 'migrating') {
    throw new ProblemError('invalid_bundle_change', 'state cannot go back from on to migrating', {
      errors: [{ path: 'bundle.state', message: 'must stay on' }],
    });
  }
  const lease = current.migration;
  if (
    lease &&
    write.migration &&
    lease.deviceId !== write.migration.deviceId &&
    lease.leaseExpiresAt.getTime() > now.getTime()
  ) {
    throw new ProblemError(
      'migration_in_progress',
      'another device holds the migration lease; retry after it expires',
      {
        extensions: {
          migration: {
            deviceId: lease.deviceId,
            leaseExpiresAt: lease.leaseExpiresAt.toISOString(),
          },
        },
      },
    );
  }
}

/** The key bundle: read, and written by compare-and-swap on its version. */
export function createEncryptionService(deps: EncryptionServiceDeps) {
  const { repository, logger } = deps;
  const clock = deps.now ?? (() => new Date());

  return {
    async status(userId: string): Promise<EncryptionStatus> {
      const current = await repository.current(userId);
      if (!current) return { enabled: false };
      // Every device reads this at sign-in: a record a dying write left out is repaired here,
      // so sync and attachments refuse plaintext from the first read of the bundle on.
      await repository.markEncrypted(userId, current.createdAt);
      return { enabled: true, bundle: toBundle(current) };
    },

    /**
     * Stores version `expectedVersion + 1`. The version read first answers a stale write at
     * once; the unique `_id` of the insert settles two writers of the same version (the loser
     * gets the winner's bundle). Every write that finds or makes a bundle also makes sure the
     * account's encryption record exists (a write that died between the two is repaired by the
     * next one).
     */
    async write(userId: string, expectedVersion: number, write: BundleWrite): Promise<Bundle> {
      const current = await repository.current(userId);
      if (current) await repository.markEncrypted(userId, current.createdAt);
      if ((current?.version ?? 0) !== expectedVersion) throw versionConflict(current);
      const now = clock();
      if (current) checkChange(current, write, now);
      const version = expectedVersion + 1;
      const doc: BundleDoc = {
        _id: bundleId(userId, version),
        userId,
        version,
        state: write.state,
        kdf: write.kdf,
        passwordWrappedKey: write.passwordWrappedKey,
        recoveryWrappedKey: write.recoveryWrappedKey,
        contentKeys: write.contentKeys,
        currentKid: write.currentKid,
        migration: write.migration
          ? {
              deviceId: write.migration.deviceId,
              leaseExpiresAt: new Date(now.getTime() + write.migration.leaseSeconds * 1000),
            }
          : null,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
      };
      if (!(await repository.insert(doc))) {
        throw versionConflict(await repository.current(userId));
      }
      await repository.markEncrypted(userId, doc.createdAt);
      // Older versions (an old passphrase's wrapping) go; readers always take the highest, so a
      // failure here only leaves them for the next write.
      await repository.deleteBelow(userId, version).catch((err: unknown) => {
        logger.warn({ err }, 'could not delete older key bundle versions');
      });
      return toBundle(doc);
    },
  };
}

export type EncryptionService = ReturnType<typeof createEncryptionService>;
