import {
  type AccountDeletionDoc,
  createDeletionSweeper,
  deleteKeys,
  type Logger,
  quotaKey,
  type Redis,
  syncHeadKey,
} from '@journal/shared';
import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import { syncRecentKey } from '../changes/recent.js';
import { idempotencyKeys } from '../entries/idempotency.js';
import type { EntriesRepository } from '../entries/repository.js';

export interface SyncDeletionDeps {
  db: Db;
  redis: Redis;
  keyPrefix: string;
  repository: EntriesRepository;
  logger: Logger;
  registry: Registry;
  settleSeconds: number;
}

/**
 * Sync's part of an account deletion (docs/account-deletion.md): every version of every entry
 * of the user (tombstones and superseded versions included) in batches, the user's purge
 * records, then its Redis keys, by exact name (no key-space scan): the head-revision hint, the
 * recent changes, the two keys of its idempotency records and the entries quota counter. Every step can run again; the
 * shared sweeper repeats it until the deletion is settled.
 */
/** Every Redis key sync keeps for a user (relative to the key prefix). */
export function syncRedisKeys(userId: string): string[] {
  return [
    syncHeadKey(userId),
    syncRecentKey(userId),
    ...idempotencyKeys(userId),
    // The entries quota counter (quota/entries-quota.ts), after the entries it counts.
    quotaKey(userId, 'entries'),
  ];
}

export function createSyncDeletion(deps: SyncDeletionDeps) {
  async function deleteUser(record: AccountDeletionDoc): Promise<void> {
    const userId = record._id;
    while ((await deps.repository.deleteUser(userId)) > 0) {
      // Next batch.
    }
    await deleteKeys(deps.redis, syncRedisKeys(userId));
  }

  const sweeper = createDeletionSweeper({
    db: deps.db,
    service: 'sync',
    logger: deps.logger,
    registry: deps.registry,
    settleSeconds: deps.settleSeconds,
    deleteUser,
    nudge: { redis: deps.redis, keyPrefix: deps.keyPrefix },
  });
  return { sweeper };
}
