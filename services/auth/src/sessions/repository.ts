import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import { ensureMissingIndexes } from '../storage/indexes.js';
import { ensureTtlIndex, purgeExpired } from '../storage/ttl.js';

/**
 * A session: one device's login, from login/register until logout, revocation or the refresh
 * token's expiry. `expiresAt` moves forward with every refresh; the TTL index on it only cleans
 * up, the code checks it.
 */
export interface SessionDoc {
  _id: string;
  userId: string;
  deviceName: string | null;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason?: string;
}

/** Revoked sessions are kept this long (for audit) before the TTL index removes them. */
const CLEANUP_GRACE_MS = 7 * 86_400_000;

export function createSessionsRepository(db: Db) {
  const sessions = db.collection<SessionDoc>('sessions');

  return {
    /** Returns whether the server expires documents itself (false on FerretDB 1.x). */
    async ensureIndexes(): Promise<boolean> {
      await ensureMissingIndexes(sessions as never, [{ key: { userId: 1 }, name: 'userId' }]);
      return ensureTtlIndex(sessions as never, 'expiresAt', 0);
    },

    purgeExpired: () => purgeExpired(sessions as never, 'expiresAt', 0),

    async create(userId: string, deviceName: string | null, ttlMs: number): Promise<SessionDoc> {
      const now = new Date();
      const doc: SessionDoc = {
        _id: randomUUID(),
        userId,
        deviceName,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: new Date(now.getTime() + ttlMs),
        revokedAt: null,
      };
      await sessions.insertOne(doc);
      return doc;
    },

    findById(id: string) {
      return sessions.findOne({ _id: id });
    },

    async touch(id: string, ttlMs: number): Promise<void> {
      const now = new Date();
      await sessions.updateOne(
        { _id: id, revokedAt: null },
        { $set: { lastUsedAt: now, expiresAt: new Date(now.getTime() + ttlMs) } },
      );
    },

    /** Marks the session revoked; true when this call revoked it. */
    async revoke(id: string, reason: string): Promise<boolean> {
      const now = new Date();
      const result = await sessions.updateOne(
        { _id: id, revokedAt: null },
        {
          $set: {
            revokedAt: now,
            revokedReason: reason,
            expiresAt: new Date(now.getTime() + CLEANUP_GRACE_MS),
          },
        },
      );
      return result.modifiedCount === 1;
    },

    /** Ids of the user's sessions not yet revoked (possibly expired). */
    async unrevokedIds(userId: string): Promise<string[]> {
      const docs = await sessions
        .find({ userId, revokedAt: null }, { projection: { _id: 1 } })
        .toArray();
      return docs.map((d) => d._id);
    },

    /** The user's live sessions, most recently used first. */
    listActive(userId: string) {
      return sessions
        .find(
          { userId, revokedAt: null, expiresAt: { $gt: new Date() } },
          { projection: { _id: 1, deviceName: 1, createdAt: 1, lastUsedAt: 1 } },
        )
        .sort({ lastUsedAt: -1 })
        .limit(1000)
        .toArray();
    },
  };
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;
