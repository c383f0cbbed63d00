import { type Logger, ProblemError, type SessionReply } from '@journal/shared';
import type { AccessTokens } from '../tokens/access.js';
import { hashRefreshToken, type RefreshTokensRepository } from '../tokens/refresh-repository.js';
import type { PublicUser, UsersRepository } from '../users/repository.js';
import type { LiveSessions } from './live.js';
import type { SessionsRepository } from './repository.js';

export interface SessionServiceDeps {
  users: UsersRepository;
  sessions: SessionsRepository;
  refreshTokens: RefreshTokensRepository;
  live: LiveSessions;
  accessTokens: AccessTokens;
  refreshTtlSeconds: number;
  logger: Logger;
  /** Called once per detected refresh-token reuse (the auth_refresh_token_reuse_total counter). */
  onReuse?: () => void;
}

const invalidRefresh = () =>
  new ProblemError('unauthorized', 'the refresh token is invalid, expired or already used');

export function toUserReply(user: PublicUser) {
  return { id: user._id, username: user.username, createdAt: user.createdAt.toISOString() };
}

/**
 * The life of a session: started by register/login, extended by refresh (rotating the refresh
 * token), ended by logout, logout of all devices, or refresh-token reuse. Ending one marks it
 * revoked in MongoDB, revokes its unused refresh tokens, and deletes its live key in Redis.
 */
export function createSessionService(deps: SessionServiceDeps) {
  const refreshTtlMs = deps.refreshTtlSeconds * 1000;

  async function reply(user: PublicUser, sessionId: string, refreshToken: string) {
    const access = await deps.accessTokens.issue(user._id, sessionId);
    return {
      user: toUserReply(user),
      accessToken: access.token,
      refreshToken,
      tokenType: 'Bearer',
      expiresIn: access.expiresIn,
    } satisfies SessionReply;
  }

  async function end(sessionId: string, userId: string, reason: string): Promise<void> {
    // Order matters for concurrent refreshes: see `refresh`.
    await deps.sessions.revoke(sessionId, userId, reason);
    await deps.refreshTokens.revokeSession(sessionId);
    await deps.live.remove(sessionId);
  }

  async function endAllExcept(
    userId: string,
    keepSessionId: string | undefined,
    reason: string,
  ): Promise<number> {
    const ids = (await deps.sessions.unrevokedIds(userId)).filter((id) => id !== keepSessionId);
    for (const id of ids) await end(id, userId, reason);
    return ids.length;
  }

  return {
    async start(user: PublicUser, deviceName: string | null): Promise<SessionReply> {
      const session = await deps.sessions.create(user._id, deviceName);
      const refreshToken = await deps.refreshTokens.issue(session._id, user._id, refreshTtlMs);
      if (!refreshToken) throw new Error('a new session already had a refresh token');
      await deps.live.put(session._id, {
        userId: user._id,
        ...(deviceName ? { deviceName } : {}),
      });
      return reply(user, session._id, refreshToken);
    },

    /**
     * Exchanges a refresh token for a new pair. Of two concurrent exchanges of one token
     * exactly one wins (the atomic claim, and the unique successor link behind it); the other
     * finds it used, which is reuse (RFC 9700 §4.14.2), and ends the session — the winner's
     * new tokens included. Reuse of a token used earlier ends the session the same way.
     */
    async refresh(token: string): Promise<SessionReply> {
      const tokenHash = hashRefreshToken(token);
      const reused = async (sessionId: string, userId: string) => {
        deps.logger.warn({ sessionId, userId }, 'refresh token reused: session revoked');
        deps.onReuse?.();
        await end(sessionId, userId, 'refresh_token_reuse');
        return invalidRefresh();
      };
      const claimed = await deps.refreshTokens.claim(tokenHash);
      if (!claimed) {
        const known = await deps.refreshTokens.find(tokenHash);
        if (known?.usedAt) throw await reused(known.sessionId, known.userId);
        throw invalidRefresh();
      }
      const usedAt = claimed.usedAt ?? new Date();
      const [session, revocation] = await Promise.all([
        deps.sessions.findById(claimed.sessionId),
        deps.sessions.revocation(claimed.sessionId),
      ]);
      // A session revoked before this claim (its tokens are normally revoked with it, so this
      // only catches an end() interrupted half-way) or past its expiry is over. One revoked
      // after the claim lost a race to this request: see the check at the end.
      if (
        !session ||
        session.userId !== claimed.userId ||
        (revocation && revocation.revokedAt < usedAt) ||
        (!revocation && session.expiresAt <= usedAt)
      ) {
        throw invalidRefresh();
      }
      const user = await deps.users.findById(claimed.userId);
      if (!user) throw invalidRefresh();

      const refreshToken = await deps.refreshTokens.issue(
        session._id,
        user._id,
        refreshTtlMs,
        tokenHash,
      );
      if (!refreshToken) throw await reused(session._id, user._id);
      await deps.sessions.touch(session._id);
      await deps.live.put(session._id, {
        userId: user._id,
        ...(session.deviceName ? { deviceName: session.deviceName } : {}),
      });
      const result = await reply(user, session._id, refreshToken);

      // A revocation that ran alongside (reuse by a concurrent request, logout) may have missed
      // the token and live key made above: if the session is revoked by now, kill them too.
      if (await deps.sessions.revocation(session._id)) {
        await deps.refreshTokens.revokeSession(session._id);
        await deps.live.remove(session._id);
      }
      return result;
    },

    end,

    async endAll(userId: string, reason: string): Promise<number> {
      return endAllExcept(userId, undefined, reason);
    },

    /** Ends every session of the user but `keepSessionId` (password change). */
    endAllExcept,

    /**
     * Ends one session of `userId` (DELETE /auth/sessions/{id}). False when there is no such
     * session of this user, or it has ended or expired already: the caller answers 404 alike.
     */
    async revoke(userId: string, sessionId: string): Promise<boolean> {
      const [session, revocation] = await Promise.all([
        deps.sessions.findById(sessionId),
        deps.sessions.revocation(sessionId),
      ]);
      if (!session || session.userId !== userId || revocation) return false;
      if (session.expiresAt <= new Date()) return false;
      await end(sessionId, userId, 'revoked');
      return true;
    },

    async list(userId: string, currentSessionId: string) {
      const sessions = await deps.sessions.listActive(userId);
      return sessions.map((s) => ({
        id: s._id,
        deviceName: s.deviceName ?? null,
        createdAt: s.createdAt.toISOString(),
        lastUsedAt: s.lastUsedAt.toISOString(),
        current: s._id === currentSessionId,
      }));
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
