import {
  type AccountDeletionDoc,
  announceDeletion,
  createDeletionSweeper,
  deleteKeys,
  type Logger,
  loginNameRateLimitKey,
  type Redis,
  userRateLimitKey,
} from '@journal/shared';
import type { Db } from 'mongodb';
import type { Registry } from 'prom-client';
import type { BundlesRepository } from '../encryption/repository.js';
import type { AuthMetrics } from '../metrics.js';
import type { LiveSessions } from '../sessions/live.js';
import type { SessionsRepository } from '../sessions/repository.js';
import type { RefreshTokensRepository } from '../tokens/refresh-repository.js';
import type { UsersRepository } from '../users/repository.js';

export interface AuthDeletionDeps {
  db: Db;
  redis: Redis;
  keyPrefix: string;
  users: UsersRepository;
  sessions: SessionsRepository;
  refreshTokens: RefreshTokensRepository;
  /** Key bundles and the account's encryption record (docs/encryption.md). */
  bundles: BundlesRepository;
  live: LiveSessions;
  logger: Logger;
  registry: Registry;
  /** auth_account_deletions_requested_total (metrics.ts). */
  requested: AuthMetrics['deletionsRequested'];
  settleSeconds: number;
}

/**
 * Auth's part of an account deletion, run by the sweeper until it has completed (every step
 * can run again): the live session keys first (so no token of the user passes the gateway),
 * then sessions, refresh tokens, the key bundles and encryption record (end-to-end encryption)
 * and the user, then the user's other Redis keys by exact name
 * (the gateway's per-user rate-limit counter, the login-failure counter of the name): no
 * key-space scan. A session a racing login started after the request ended them is caught the
 * same way.
 */
export function createAuthDeletion(deps: AuthDeletionDeps) {
  const { requested } = deps;

  async function deleteUser(record: AccountDeletionDoc): Promise<void> {
    const userId = record._id;
    const sessionIds = await deps.sessions.allIds(userId);
    await deps.live.remove(...sessionIds);
    await deps.refreshTokens.deleteUser(userId);
    await deps.sessions.deleteUser(userId);
    await deps.bundles.deleteUser(userId);
    await deps.users.deleteById(userId);
    await deleteKeys(deps.redis, [
      userRateLimitKey(userId),
      ...(record.usernameLower ? [loginNameRateLimitKey(record.usernameLower)] : []),
    ]);
  }

  const sweeper = createDeletionSweeper({
    db: deps.db,
    service: 'auth',
    logger: deps.logger,
    registry: deps.registry,
    settleSeconds: deps.settleSeconds,
    deleteUser,
  });

  return {
    sweeper,
    /**
     * A deletion was recorded: count it, tell sync and attachments (a speed-up: their periodic
     * pass finds it anyway) and start auth's own pass at once.
     */
    requested(userId: string): void {
      requested.inc();
      announceDeletion(deps.redis, deps.keyPrefix, userId).catch((err: unknown) => {
        deps.logger.warn({ err }, 'could not announce an account deletion');
      });
      sweeper.runOnce().catch((err: unknown) => {
        deps.logger.warn({ err }, 'account deletion sweep failed');
      });
    },
  };
}
