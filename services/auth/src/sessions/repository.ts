import { randomUUID } from 'node:crypto';
import {
  ensureIndexes,
  isDuplicateKey,
  purgeExpired,
  SESSION_REVOCATIONS,
  type SessionRevocationRecord,
  USER_REVOCATIONS,
  type UserRevocationRecord,
} from '@journal/shared';
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
 * session back without its `revokedAt`. An insert cannot be undone that way. Every service
 * reads these (shared/src/revocations.ts) to refuse the session's access tokens.
 */
export type RevocationDoc = SessionRevocationRecord;

/** Revoked sessions are kept this long (for audit) before clean-up removes them. */
const CLEANUP_GRACE_MS = 7 * 86_400_000;

export function createSessionsRepository(db: Db, refreshTtlMs: number) {
  const sessions = db.collection<SessionDoc>('sessions');
  const revocations = db.collection<RevocationDoc>(SESSION_REVOCATIONS);
  const userRevocations = db.collection<UserRevocationRecord>(USER_REVOCATIONS);

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
      // Every service loads the revocations of the last access-token lifetime at start-up.
      const byTime = { key: { revokedAt: 1 }, name: 'revokedAt' };
      const [a, b, c] = await Promise.all([
        ensureIndexes(sessions, [{ key: { userId: 1 }, name: 'userId' }, expiry]),
        ensureIndexes(revocations, [expiry, byTime]),
        ensureIndexes(userRevocations, [expiry, byTime]),
      ]);
      return a && b && c;
    },

    async purgeExpired(): Promise<number> {
      const [a, b, c] = await Promise.all([
        purgeExpired(sessions, 'expiresAt', 0),
        purgeExpired(revocations, 'expiresAt', 0),
        purgeExpired(userRevocations, 'expiresAt', 0),
      ]);
      return a + b + c;
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

    /**
     * Records that the session ended; idempotent (the first revocation's time and reason win).
     * Returns the time recorded now (the first one's when it was already revoked: close enough
     * for the services, which keep it for a whole token lifetime).
     */
    async revoke(id: string, userId: string, reason: string): Promise<Date> {
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
      return now;
    },

    /**
     * Records that every session of the user issued before now has ended, but `keepSessionId`
     * (insert-only, one record per call). Returns its time.
     */
    async revokeUser(userId: string, reason: string, keepSessionId: string | null): Promise<Date> {
      const now = new Date();
      await userRevocations.insertOne({
        _id: randomUUID(),
        userId,
        revokedAt: now,
        keepSessionId,
        reason,
        expiresAt: new Date(now.getTime() + refreshTtlMs + CLEANUP_GRACE_MS),
      });
      return now;
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
     * The user-wide revocation records go: every session they covered has one of its own.
     */
    async deleteUser(userId: string): Promise<void> {
      await sessions.deleteMany({ userId });
      await revocations.updateMany({ userId }, { $unset: { userId: '' } });
      await userRevocations.deleteMany({ userId });
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
