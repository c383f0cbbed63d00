import {
  deleteKeys,
  ENCRYPTION_LIMITS,
  encryptionRequired,
  isEnvelope,
  type Logger,
  ProblemError,
  type PushRequest,
  type Redis,
  syncRecentKey,
} from '@journal/shared';
import type { Db } from 'mongodb';
import type { EntriesRepository, VersionDoc } from '../entries/repository.js';

export interface SyncEncryptionDeps {
  db: Db;
  redis: Redis;
  repository: Pick<EntriesRepository, 'markSuperseded'>;
  logger: Logger;
}

/** Versions whose content is emptied per command. */
const PURGE_BATCH = 1000;

/** True when stored content (JSON text) is exactly an envelope. */
function storedEnvelope(content: string): boolean {
  try {
    return isEnvelope(JSON.parse(content));
  } catch {
    return false;
  }
}

type Scanned = Pick<VersionDoc, 'id' | 'revision' | 'deleted' | 'superseded'> & {
  content: string;
};

/**
 * Sync's part of end-to-end encryption (docs/encryption.md): an encrypted account's pushes
 * carry only envelopes, and once its client has re-pushed every entry, `finish` drops the
 * plaintext the server still keeps: the content of replaced versions and the recent-changes
 * cache in Redis.
 */
export function createSyncEncryption(deps: SyncEncryptionDeps) {
  const { db, redis, repository, logger } = deps;
  const versions = db.collection<VersionDoc>('entry_versions');

  /**
   * Of `candidates` (id, revision), the ids whose revision is still the entry's current one: a
   * tombstone (no content, so not in the scan) or a version written since may be above it.
   */
  async function stillCurrent(userId: string, candidates: [string, number][]): Promise<string[]> {
    const kept: string[] = [];
    for (let i = 0; i < candidates.length; i += PURGE_BATCH) {
      const batch = new Map(candidates.slice(i, i + PURGE_BATCH));
      const newer = new Set<string>();
      const docs = versions.find(
        { userId, id: { $in: [...batch.keys()] }, superseded: { $ne: true } },
        { projection: { _id: 0, id: 1, revision: 1 } },
      );
      for await (const doc of docs) {
        if (doc.revision > (batch.get(doc.id) ?? 0)) newer.add(doc.id);
      }
      for (const id of batch.keys()) if (!newer.has(id)) kept.push(id);
    }
    return kept;
  }

  return {
    /**
     * Refuses (403 `encryption_required`, before anything is written) a push of an encrypted
     * account with a change whose content is not exactly an envelope. Deletions carry no
     * content and pass. A push of envelopes only costs nothing; one with plaintext costs one
     * lookup of the account's record (a cached positive after the first).
     */
    async checkPush(userId: string, body: PushRequest): Promise<void> {
      const plaintext = body.changes.filter((c) => !c.deleted && !isEnvelope(c.content));
      if (plaintext.length === 0) return;
      if (!(await encryptionRequired(db, userId))) return;
      throw new ProblemError(
        'encryption_required',
        'the account is end-to-end encrypted: every change’s content must be an envelope',
        {
          extensions: {
            entries: plaintext.slice(0, ENCRYPTION_LIMITS.maxListedPlaintext).map((c) => c.id),
          },
        },
      );
    },

    /**
     * When every current entry of the user is an envelope or a tombstone: empties the content
     * of every other version that is not an envelope (replaced versions, tombstones if they had
     * any) and deletes the user's recent changes in Redis; returns how many versions it
     * emptied. Versions are emptied, not deleted: deleting a revision a stalled push could still
     * take would break the feed's guarantee (docs/sync.md); they go with the purge, as any
     * replaced version. Otherwise 409 `plaintext_remaining` with the ids, and nothing changes.
     */
    async finish(userId: string): Promise<{ purgedVersions: number }> {
      if (!(await encryptionRequired(db, userId))) {
        throw new ProblemError(
          'encryption_not_enabled',
          'the account has not turned end-to-end encryption on (PUT /auth/encryption)',
        );
      }
      // One streamed pass over the user's versions that hold content: per entry its current
      // version (the highest not marked replaced), and every version in plaintext.
      const current = new Map<string, { revision: number; plaintext: boolean }>();
      const plaintext: Scanned[] = [];
      const cursor = versions
        .find(
          { userId, content: { $ne: null } },
          {
            projection: { _id: 0, id: 1, revision: 1, deleted: 1, superseded: 1, content: 1 },
          },
        )
        .batchSize(200);
      for await (const doc of cursor as unknown as AsyncIterable<Scanned>) {
        const isPlain = !storedEnvelope(doc.content);
        if (isPlain) plaintext.push({ ...doc, content: '' });
        if (doc.superseded || doc.deleted) continue;
        const known = current.get(doc.id);
        if (!known || doc.revision > known.revision) {
          current.set(doc.id, { revision: doc.revision, plaintext: isPlain });
        }
      }
      const remaining = await stillCurrent(
        userId,
        [...current]
          .filter(([, head]) => head.plaintext)
          .sort(([, a], [, b]) => a.revision - b.revision)
          .map(([id, head]) => [id, head.revision]),
      );
      if (remaining.length > 0) {
        throw new ProblemError(
          'plaintext_remaining',
          `${remaining.length} current entries are not encrypted yet; push them as envelopes`,
          { extensions: { entries: remaining.slice(0, ENCRYPTION_LIMITS.maxListedPlaintext) } },
        );
      }
      // Everything left in plaintext is replaced (or a tombstone). A replaced version a push
      // died before marking is marked now, as that push would have.
      const unmarked = plaintext
        .filter((doc) => !doc.superseded && !doc.deleted)
        .map((doc) => doc.revision);
      await repository.markSuperseded(userId, unmarked);
      let purged = 0;
      const revisions = plaintext.map((doc) => doc.revision);
      for (let i = 0; i < revisions.length; i += PURGE_BATCH) {
        const result = await versions.updateMany(
          {
            userId,
            revision: { $in: revisions.slice(i, i + PURGE_BATCH) },
            content: { $ne: null },
          },
          { $set: { content: null } },
        );
        purged += result.modifiedCount;
      }
      // The recent changes hold pulled versions as JSON, plaintext ones included; a page
      // then reads MongoDB until pushes fill the set again. By exact key, no scan.
      await deleteKeys(redis, [syncRecentKey(userId)]);
      logger.info({ userId, purgedVersions: purged }, 'plaintext of an encrypted account dropped');
      return { purgedVersions: purged };
    },
  };
}

export type SyncEncryption = ReturnType<typeof createSyncEncryption>;
