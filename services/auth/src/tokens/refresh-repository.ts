import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ensureIndexes, isDuplicateKey, purgeExpired } from '@journal/shared';
import type { Db } from 'mongodb';

/**
 * Refresh tokens, stored only as SHA-256 hashes (a 256-bit random token needs no slow hash).
 * All tokens of one session form its family (RFC 9700 §4.14): `sessionId` is the family id.
 *
 * Each token names the one it replaced in `previousHash` (the first of a session names the
 * session), under a unique index: a token can be exchanged for a successor only once. That
 * unique insert is what makes two concurrent exchanges of one token yield exactly one winner,
 * on MongoDB and on FerretDB 1.x alike — FerretDB's findOneAndUpdate/updateOne are not atomic
 * under concurrency (two callers can both match `usedAt: null`), its unique indexes are.
 */
export interface RefreshTokenDoc {
  _id: string;
  tokenHash: string;
  /** Hash of the token this one replaced, or `session:<id>` for a session's first token. */
  previousHash: string;
  sessionId: string;
  userId: string;
  issuedAt: Date;
  expiresAt: Date;
  /** Set once, atomically, when the token is exchanged. */
  usedAt: Date | null;
  /** Set when the token's session ended before the token was used. */
  revokedAt: Date | null;
}

/** Clean-up only: expiry is checked in code. Kept a while past expiry for reuse detection. */
const KEEP_AFTER_EXPIRY_SECONDS = 7 * 86_400;

export function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function createRefreshTokensRepository(db: Db) {
  const tokens = db.collection<RefreshTokenDoc>('refresh_tokens');

  return {
    /** Returns whether the server expires documents itself (false on FerretDB 1.x). */
    async ensureIndexes(): Promise<boolean> {
      return ensureIndexes(tokens, [
        { key: { tokenHash: 1 }, name: 'tokenHash_unique', unique: true },
        { key: { previousHash: 1 }, name: 'previousHash_unique', unique: true },
        { key: { sessionId: 1 }, name: 'sessionId' },
        {
          key: { expiresAt: 1 },
          name: 'expiresAt_ttl',
          expireAfterSeconds: KEEP_AFTER_EXPIRY_SECONDS,
        },
      ]);
    },

    purgeExpired: () => purgeExpired(tokens, 'expiresAt', KEEP_AFTER_EXPIRY_SECONDS),

    /**
     * Stores a new token for the session and returns the token itself (never stored).
     * `previousHash` is the hash of the token it replaces; undefined for a session's first.
     * Returns undefined when that token already has a successor (it was exchanged already).
     */
    async issue(
      sessionId: string,
      userId: string,
      ttlMs: number,
      previousHash?: string,
    ): Promise<string | undefined> {
      const token = newRefreshToken();
      const tokenHash = hashRefreshToken(token);
      const now = new Date();
      try {
        await tokens.insertOne({
          _id: randomUUID(),
          tokenHash,
          previousHash: previousHash ?? `session:${sessionId}`,
          sessionId,
          userId,
          issuedAt: now,
          expiresAt: new Date(now.getTime() + ttlMs),
          usedAt: null,
          revokedAt: null,
        });
      } catch (err) {
        if (isDuplicateKey(err) && previousHash) return undefined;
        throw err;
      }
      return token;
    },

    /**
     * Marks an unused, unexpired, unrevoked token used and returns it; null when there is no
     * such token. Atomic on MongoDB; on FerretDB two concurrent callers may both get it, so
     * the successor's unique `previousHash` (see `issue`) has the final word.
     */
    claim(tokenHash: string) {
      const now = new Date();
      return tokens.findOneAndUpdate(
        { tokenHash, usedAt: null, revokedAt: null, expiresAt: { $gt: now } },
        { $set: { usedAt: now } },
        { returnDocument: 'after' },
      );
    },

    find(tokenHash: string) {
      return tokens.findOne({ tokenHash });
    },

    /** Removes every token of the user (account deletion; their sessions have ended). */
    async deleteUser(userId: string): Promise<void> {
      await tokens.deleteMany({ userId });
    },

    /** Ends every unused token of a session (logout, revocation). */
    async revokeSession(sessionId: string): Promise<void> {
      const now = new Date();
      await tokens.updateMany(
        { sessionId, usedAt: null, revokedAt: null },
        { $set: { revokedAt: now } },
      );
    },
  };
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>;
