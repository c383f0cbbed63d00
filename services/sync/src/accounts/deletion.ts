import {
  type AccountDeletionDoc,
  createDeletionSweeper,
  deleteKeysMatching,
  type Logger,
  type Redis,
  syncHeadKey,
} from '@journal/shared';
import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import { syncRecentKey } from '../changes/recent.js';
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
 * records, then its Redis keys: idempotency replies, the head-revision hint and the recent changes. Every step
 * can run again; the shared sweeper repeats it until the deletion is settled.
 */
export function createSyncDeletion(deps: SyncDeletionDeps) {
  async function deleteUser(record: AccountDeletionDoc): Promise<void> {
    const userId = record._id;
    while ((await deps.repository.deleteUser(userId)) > 0) {
      // Next batch.
    }
    // One key per DEL: a Cluster keeps them in different slots.
    await deps.redis.del(syncHeadKey(userId));
    await deps.redis.del(syncRecentKey(userId));
    // User ids are server-made UUIDs: nothing in them is a glob character.
    await deleteKeysMatching(deps.redis, deps.keyPrefix, `sync:idem:${userId}:*`);
  }

  return createDeletionSweeper({
    db: deps.db,
    service: 'sync',
    logger: deps.logger,
    registry: deps.registry,
    settleSeconds: deps.settleSeconds,
    deleteUser,
    nudge: { redis: deps.redis, keyPrefix: deps.keyPrefix },
  });
}
