import { type DeletionSweeper, jobSet, type Logger, periodicJob } from '@journal/shared';
import type { Config } from './config.js';
import type { SessionsRepository } from './sessions/repository.js';
import type { RefreshTokensRepository } from './tokens/refresh-repository.js';

/** How often expired sessions and tokens are purged where no TTL index does it. */
export const PURGE_INTERVAL_SECONDS = 3_600;

/**
 * Every periodic job auth runs, on every replica (each pass is safe to overlap with another
 * replica's): the purge of expired sessions and refresh tokens, only where the server has no
 * TTL indexes (FerretDB 1.x), and auth's part of account deletion.
 */
export function createAuthJobs(deps: {
  config: Config;
  logger: Logger;
  sessions: SessionsRepository;
  refreshTokens: RefreshTokensRepository;
  deletion: DeletionSweeper;
  /** False when TTL indexes remove expired documents already. */
  purgeExpired: boolean;
}) {
  const purgeOnce = async () => {
    const [a, b] = await Promise.all([
      deps.sessions.purgeExpired(),
      deps.refreshTokens.purgeExpired(),
    ]);
    return a + b;
  };
  if (deps.purgeExpired) {
    deps.logger.info('server has no TTL indexes: purging expired sessions and tokens hourly');
  }
  const set = jobSet({
    purgeExpired: {
      job: periodicJob(purgeOnce, deps.logger, 'purging expired sessions failed'),
      // 0 leaves the job off.
      intervalSeconds: deps.purgeExpired ? PURGE_INTERVAL_SECONDS : 0,
    },
    accountDeletion: {
      job: deps.deletion,
      intervalSeconds: deps.config.ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS,
    },
  });
  return { ...set, purgeOnce };
}
