import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ensureIndexes } from '@journal/shared';
import type { Db } from 'mongodb';
import { ensureTtlIndex, purgeExpired } from '../storage/ttl.js';

/**
 * Refresh tokens, stored only as SHA-256 hashes (a 256-bit random token needs no slow hash).
 * All tokens of one session form its family (RFC 9700 §4.14): `sessionId` is the family id.
 */
export interface RefreshTokenDoc {
  _id: string;
  tokenHash: string;
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
      await ensureIndexes(tokens as never, [
        { key: { tokenHash: 1 }, name: 'tokenHash_unique', unique: true },
        { key: { sessionId: 1 }, name: 'sessionId' },
      ]);
      return ensureTtlIndex(tokens as never, 'expiresAt', KEEP_AFTER_EXPIRY_SECONDS);
    },

    purgeExpired: () => purgeExpired(tokens as never, 'expiresAt', KEEP_AFTER_EXPIRY_SECONDS),

    /** Stores a new token for the session and returns the token itself (never stored). */
    async issue(sessionId: string, userId: string, ttlMs: number): Promise<string> {
      const token = newRefreshToken();
      const tokenHash = hashRefreshToken(token);
      const now = new Date();
      await tokens.insertOne({
        _id: randomUUID(),
        tokenHash,
        sessionId,
        userId,
        issuedAt: now,
        expiresAt: new Date(now.getTime() + ttlMs),
        usedAt: null,
        revokedAt: null,
      });
      return token;
    },

    /**
     * Marks an unused, unexpired, unrevoked token used, in one atomic step: of two concurrent
     * exchanges of the same token exactly one gets the document back.
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
