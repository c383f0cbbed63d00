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
import type { EntriesRepository } from '../entries/repository.js';
import { type ContentVersion, createEncryptionRepository } from './repository.js';

export interface SyncEncryptionDeps {
  db: Db;
  redis: Redis;
  repository: Pick<EntriesRepository, 'markSuperseded'>;
  logger: Logger;
}

/** True when stored content (JSON text) is exactly an envelope. */
function storedEnvelope(content: string): boolean {
  try {
    return isEnvelope(JSON.parse(content));
  } catch {
    return false;
  }
}

/**
 * Sync's part of end-to-end encryption (docs/encryption.md): an encrypted account's pushes
 * carry only envelopes, and once its client has re-pushed every entry, `finish` drops the
 * plaintext the server still keeps: the content of replaced versions and the recent-changes
 * cache in Redis.
 */
export function createSyncEncryption(deps: SyncEncryptionDeps) {
  const { db, redis, repository, logger } = deps;
  const queries = createEncryptionRepository(db);

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
      const plaintext: Omit<ContentVersion, 'content'>[] = [];
      for await (const doc of queries.withContent(userId)) {
        const isPlain = !storedEnvelope(doc.content);
        if (isPlain) {
          const { content: _dropped, ...meta } = doc;
          plaintext.push(meta);
        }
        if (doc.superseded || doc.deleted) continue;
        const known = current.get(doc.id);
        if (!known || doc.revision > known.revision) {
          current.set(doc.id, { revision: doc.revision, plaintext: isPlain });
        }
      }
      const remaining = await queries.stillCurrent(
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
      await repository.markSuperseded(
        userId,
        plaintext.filter((doc) => !doc.superseded && !doc.deleted).map((doc) => doc.revision),
      );
      const purged = await queries.emptyContent(
        userId,
        plaintext.map((doc) => doc.revision),
      );
      // The recent changes hold pulled versions as JSON, plaintext ones included; a page
      // then reads MongoDB until pushes fill the set again. By exact key, no scan.
      await deleteKeys(redis, [syncRecentKey(userId)]);
      logger.info({ userId, purgedVersions: purged }, 'plaintext of an encrypted account dropped');
      return { purgedVersions: purged };
    },
  };
}

export type SyncEncryption = ReturnType<typeof createSyncEncryption>;
