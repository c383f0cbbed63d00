import {
  type AccountDeletionDoc,
  createDeletionSweeper,
  deleteKeys,
  type Logger,
  quotaKey,
  type Redis,
} from '@journal/shared';
import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import type { PendingRepository } from '../attachments/pending.js';
import type { AttachmentsRepository } from '../attachments/repository.js';
import { namespacedKey, type Qiniu } from '../qiniu/qiniu.js';
import type { QiniuUploadsRepository } from '../qiniu/uploads-repository.js';
import type { ContentStore } from '../storage/content-store.js';

/** Attachments a step handles at once: a page of metadata, its content in one command. */
const BATCH = 50;

export interface AttachmentsDeletionDeps {
  db: Db;
  /** For auth's announcements of new deletions (a speed-up only). */
  redis: Redis;
  keyPrefix: string;
  repository: AttachmentsRepository;
  pending: PendingRepository;
  uploads: QiniuUploadsRepository;
  store: ContentStore;
  qiniu: Qiniu | null;
  logger: Logger;
  registry: Registry;
  settleSeconds: number;
}

/**
 * Attachments' part of an account deletion (docs/account-deletion.md), every step safe to run
 * again: the user's objects in the Qiniu bucket (`users/<userId>/…`, list + batch delete) and
 * their upload records; content of unfinished uploads and deletes (pending markers), then each
 * attachment's content before its metadata (so no content is ever left without a record that
 * leads to it), then any file still named after the user, and last its quota counter in Redis.
 */
export function createAttachmentsDeletion(deps: AttachmentsDeletionDeps) {
  const { repository, pending, store } = deps;

  async function deleteUser(record: AccountDeletionDoc): Promise<void> {
    const owner = record._id;
    if (deps.qiniu) {
      const objects = await deps.qiniu.deletePrefix(namespacedKey(owner, ''));
      if (objects > 0) deps.logger.info({ userId: owner, objects }, 'deleted Qiniu objects');
    }
    await deps.uploads.deleteOwner(owner);
    for (;;) {
      const markers = await pending.ofOwner(owner, BATCH);
      const ids = markers.map((m) => m._id);
      await store.removeMany(ids);
      await pending.removeMany(ids);
      if (markers.length < BATCH) break;
    }
    for (;;) {
      // A page at a time: its content first, then its metadata.
      const page = await repository.list(owner, BATCH);
      await store.removeMany(page.map((a) => a.fileId));
      await repository.removeAll(
        owner,
        page.map((a) => a.id),
      );
      if (page.length < BATCH) break;
    }
    for (;;) {
      const files = await store.fileIdsNamed(`${owner}/`, BATCH);
      await store.removeMany(files);
      if (files.length < BATCH) break;
    }
    // Its one Redis key, by name: the attachments quota counter (attachments/quota.ts), once
    // nothing it counts is left.
    await deleteKeys(deps.redis, [quotaKey(owner, 'attachments')]);
  }

  return createDeletionSweeper({
    db: deps.db,
    service: 'attachments',
    logger: deps.logger,
    registry: deps.registry,
    settleSeconds: deps.settleSeconds,
    deleteUser,
    nudge: { redis: deps.redis, keyPrefix: deps.keyPrefix },
  });
}
