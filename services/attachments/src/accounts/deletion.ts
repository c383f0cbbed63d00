import {
  type AccountDeletionDoc,
  createDeletionSweeper,
  DependencyError,
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
/**
 * After a Qiniu call failed, the next deletions skip Qiniu for this long (they fail at once
 * rather than each waiting out the timeouts of an unreachable host); the sweep's backoff
 * retries later.
 */
export const QINIU_SKIP_AFTER_FAILURE_MS = 5_000;

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
 * again: the user's objects in the Qiniu bucket (`users/<userId>/…`, list + batch delete; when
 * Qiniu fails, the rest still runs and the deletion stays open) and their upload records;
 * content of unfinished uploads and deletes (pending markers), then each attachment's content
 * before its metadata (so no content is ever left without a record that leads to it), then any
 * file still named after the user, and last its quota counter in Redis.
 */
export function createAttachmentsDeletion(deps: AttachmentsDeletionDeps) {
  const { repository, pending, store } = deps;

  let qiniuFailedAt = Number.NEGATIVE_INFINITY;

  /** The user's objects in the bucket; the error when Qiniu did not confirm them gone. */
  async function deleteQiniuObjects(owner: string): Promise<unknown> {
    if (!deps.qiniu) return undefined;
    if (Date.now() - qiniuFailedAt < QINIU_SKIP_AFTER_FAILURE_MS) {
      return new DependencyError('qiniu', 'Qiniu skipped: a call failed moments ago');
    }
    try {
      const objects = await deps.qiniu.deletePrefix(namespacedKey(owner, ''));
      if (objects > 0) deps.logger.info({ userId: owner, objects }, 'deleted Qiniu objects');
      return undefined;
    } catch (err) {
      qiniuFailedAt = Date.now();
      return err;
    }
  }

  async function deleteUser(record: AccountDeletionDoc): Promise<void> {
    const owner = record._id;
    // Qiniu first; when it cannot be reached, what is stored here goes all the same, and the
    // deletion stays open (the error, thrown last) until Qiniu confirms the objects gone.
    const qiniuError = await deleteQiniuObjects(owner);
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
    if (qiniuError) throw qiniuError;
  }

  const sweeper = createDeletionSweeper({
    db: deps.db,
    service: 'attachments',
    logger: deps.logger,
    registry: deps.registry,
    settleSeconds: deps.settleSeconds,
    deleteUser,
    nudge: { redis: deps.redis, keyPrefix: deps.keyPrefix },
  });
  return { sweeper };
}
