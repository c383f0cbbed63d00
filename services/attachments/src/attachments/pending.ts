import { ensureIndexes, isDuplicateKey, type Logger, ProblemError } from '@journal/shared';
import type { Db, ObjectId } from 'mongodb';
import type { AttachmentsMetrics } from '../metrics.js';
import type { ContentStore } from '../storage/content-store.js';
import type { AttachmentsRepository } from './repository.js';

/** A live upload refreshes its marker at least this often (the sweeper's grace is far longer). */
export const KEEPALIVE_MS = 60_000;
const SWEEP_BATCH = 100;

/**
 * Content whose fate is not settled yet: an upload between its first chunk and its metadata
 * insert, or a delete between its metadata and its content. The marker is written before the
 * content is touched and removed once the content is referenced or gone, so a process killed in
 * between (OOM, SIGKILL, a node lost) leaves a marker, never an untracked file.
 */
export interface PendingDoc {
  _id: ObjectId;
  owner: string;
  id: string;
  at: Date;
}

export function createPendingRepository(db: Db) {
  const collection = db.collection<PendingDoc>('attachments_pending');
  return {
    async ensureIndexes(): Promise<void> {
      await ensureIndexes(collection, [{ key: { at: 1 }, name: 'at' }]);
    },

    /** Marks `fileId` as pending for (owner, id); an existing marker for it is kept. */
    async add(fileId: ObjectId, owner: string, id: string): Promise<void> {
      try {
        await collection.insertOne({ _id: fileId, owner, id, at: new Date() });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    },

    /** Refreshes a live upload's marker; false when the sweeper has taken it. */
    async touch(fileId: ObjectId): Promise<boolean> {
      const result = await collection.updateOne({ _id: fileId }, { $set: { at: new Date() } });
      return result.matchedCount === 1;
    },

    async remove(fileId: ObjectId): Promise<void> {
      await collection.deleteOne({ _id: fileId });
    },

    async removeMany(fileIds: ObjectId[]): Promise<void> {
      if (fileIds.length > 0) await collection.deleteMany({ _id: { $in: fileIds } });
    },

    olderThan(cutoff: Date, limit: number): Promise<PendingDoc[]> {
      return collection
        .find({ at: { $lt: cutoff } })
        .limit(limit)
        .toArray();
    },

    /** Markers of `owner`'s uploads and deletes (account deletion). */
    ofOwner(owner: string, limit: number): Promise<PendingDoc[]> {
      return collection.find({ owner }).limit(limit).toArray();
    },

    count(): Promise<number> {
      return collection.countDocuments({});
    },
  };
}

export type PendingRepository = ReturnType<typeof createPendingRepository>;

/**
 * Refreshes `fileId`'s marker once KEEPALIVE_MS has passed since the last refresh; for the
 * content store's `afterChunk`. Aborts the upload (503, retry) if the marker was swept.
 */
export function keepAlive(pending: PendingRepository, fileId: ObjectId, everyMs = KEEPALIVE_MS) {
  let last = Date.now();
  return async () => {
    if (Date.now() - last < everyMs) return;
    last = Date.now();
    if (!(await pending.touch(fileId))) {
      throw new ProblemError('upstream_unavailable', 'the upload was interrupted; retry it', {
        status: 503,
        headers: { 'retry-after': '1' },
      });
    }
  };
}

export interface SweeperDeps {
  pending: PendingRepository;
  repository: AttachmentsRepository;
  store: ContentStore;
  metrics: AttachmentsMetrics;
  logger: Logger;
  /** Markers older than this are settled by the sweeper: far longer than KEEPALIVE_MS. */
  graceSeconds: number;
}

/**
 * Settles markers left by processes that died: content its attachment does not reference is
 * removed, then the marker. Safe on every replica at once (each step is idempotent), and a live
 * upload's marker is never this old.
 */
export function createOrphanSweeper(deps: SweeperDeps) {
  const { pending, repository, store } = deps;

  async function runOnce(now = new Date()): Promise<{ removed: number; settled: number }> {
    const cutoff = new Date(now.getTime() - deps.graceSeconds * 1000);
    let removed = 0;
    let settled = 0;
    for (;;) {
      const markers = await pending.olderThan(cutoff, SWEEP_BATCH);
      for (const marker of markers) {
        const attachment = await repository.find(marker.owner, marker.id);
        if (!attachment?.fileId.equals(marker._id) && (await store.remove(marker._id))) {
          removed += 1;
          deps.metrics.orphansRemoved.inc();
        }
        await pending.remove(marker._id);
        settled += 1;
      }
      if (markers.length < SWEEP_BATCH) break;
    }
    if (settled > 0)
      deps.logger.info({ removed, settled }, 'settled interrupted uploads and deletes');
    return { removed, settled };
  }

  return { runOnce };
}

export type OrphanSweeper = ReturnType<typeof createOrphanSweeper>;
