import { randomUUID } from 'node:crypto';
import { ensureIndexes, isDuplicateKey, purgeExpired } from '@journal/shared';
import type { Db } from 'mongodb';

/**
 * A session: one device's login, from login/register until logout, revocation or the refresh
 * token's expiry. `lastUsedAt` and `expiresAt` move forward with every refresh; the TTL index on
 * `expiresAt` only cleans up, the code checks it.
 */
export interface SessionDoc {
  _id: string;
  userId: string;
  deviceName: string | null;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  /** Informational copy of the revocation (see `RevocationDoc`, which is authoritative). */
  revokedAt: Date | null;
  revokedReason?: string;
}

/**
 * The fact that a session ended, as a document of its own that is only ever inserted (unique
 * `_id` = session id), never updated. On FerretDB 1.24 updates of one document are not atomic
 * read-modify-writes: a refresh's `lastUsedAt` update racing with a logout can write the
 * session back without its `revokedAt`. An insert cannot be undone that way.
 */
export interface RevocationDoc {
  _id: string;
  userId: string;
  revokedAt: Date;
  reason: string;
  /** Clean-up time: past any refresh token of the session. */
  expiresAt: Date;
}

/** Revoked sessions are kept this long (for audit) before clean-up removes them. */
const CLEANUP_GRACE_MS = 7 * 86_400_000;

export function createSessionsRepository(db: Db, refreshTtlMs: number) {
  const sessions = db.collection<SessionDoc>('sessions');
  const revocations = db.collection<RevocationDoc>('session_revocations');

  async function revokedAmong(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const docs = await revocations
      .find({ _id: { $in: ids } }, { projection: { _id: 1 } })
      .toArray();
    return new Set(docs.map((d) => d._id));
  }

  return {
    /** Returns whether the server expires documents itself (false on FerretDB 1.x). */
    async ensureIndexes(): Promise<boolean> {
      const expiry = { key: { expiresAt: 1 }, name: 'expiresAt_ttl', expireAfterSeconds: 0 };
      const [a, b] = await Promise.all([
        ensureIndexes(sessions, [{ key: { userId: 1 }, name: 'userId' }, expiry]),
        ensureIndexes(revocations, [expiry]),
      ]);
      return a && b;
    },

    async purgeExpired(): Promise<number> {
      const [a, b] = await Promise.all([
        purgeExpired(sessions, 'expiresAt', 0),
        purgeExpired(revocations, 'expiresAt', 0),
      ]);
      return a + b;
    },

    async create(userId: string, deviceName: string | null): Promise<SessionDoc> {
      const now = new Date();
      const doc: SessionDoc = {
        _id: randomUUID(),
        userId,
        deviceName,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: new Date(now.getTime() + refreshTtlMs),
        revokedAt: null,
      };
      await sessions.insertOne(doc);
      return doc;
    },

    findById(id: string) {
      return sessions.findOne({ _id: id });
    },

    /** The session's revocation, if it has ended. */
    revocation(id: string) {
      return revocations.findOne({ _id: id });
    },

    async touch(id: string): Promise<void> {
      const now = new Date();
      await sessions.updateOne(
        { _id: id, revokedAt: null },
        { $set: { lastUsedAt: now, expiresAt: new Date(now.getTime() + refreshTtlMs) } },
      );
    },

    /** Records that the session ended; idempotent (the first revocation's time and reason win). */
    async revoke(id: string, userId: string, reason: string): Promise<void> {
      const now = new Date();
      const expiresAt = new Date(now.getTime() + refreshTtlMs + CLEANUP_GRACE_MS);
      try {
        await revocations.insertOne({ _id: id, userId, revokedAt: now, reason, expiresAt });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
      await sessions.updateOne(
        { _id: id, revokedAt: null },
        { $set: { revokedAt: now, revokedReason: reason, expiresAt } },
      );
    },

    /** Ids of the user's sessions that have not ended (possibly expired). */
    async unrevokedIds(userId: string): Promise<string[]> {
      const docs = await sessions.find({ userId }, { projection: { _id: 1 } }).toArray();
      const revoked = await revokedAmong(docs.map((d) => d._id));
      return docs.map((d) => d._id).filter((id) => !revoked.has(id));
    },

    /** Ids of every session of the user, ended or not (account deletion). */
    async allIds(userId: string): Promise<string[]> {
      const docs = await sessions.find({ userId }, { projection: { _id: 1 } }).toArray();
      return docs.map((d) => d._id);
    },

    /**
     * Removes the user's sessions. Their revocations stay (keyed by session id, so the tokens
     * of those sessions stay refused) but lose the user id: nothing names the user any more.
     */
    async deleteUser(userId: string): Promise<void> {
      await sessions.deleteMany({ userId });
      await revocations.updateMany({ userId }, { $unset: { userId: '' } });
    },

    /** The user's live sessions (not ended, not expired), most recently used first. */
    async listActive(userId: string) {
      const docs = await sessions
        .find(
          { userId, revokedAt: null, expiresAt: { $gt: new Date() } },
          { projection: { _id: 1, deviceName: 1, createdAt: 1, lastUsedAt: 1 } },
        )
        .sort({ lastUsedAt: -1 })
        .limit(1000)
        .toArray();
      const revoked = await revokedAmong(docs.map((d) => d._id));
      return docs.filter((d) => !revoked.has(d._id));
    },
  };
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;
