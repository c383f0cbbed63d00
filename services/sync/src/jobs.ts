import { type DeletionSweeper, jobSet, type Logger, periodicJob } from '@journal/shared';
import type { Config } from './config.js';
import type { Purger } from './purge/purger.js';

/**
 * Every periodic job sync runs, on every replica (each pass is safe to overlap with another
 * replica's): the tombstone purge and this service's part of account deletion.
 */
export function createSyncJobs(deps: {
  config: Config;
  logger: Logger;
  purger: Purger;
  deletion: DeletionSweeper;
}) {
  const { config } = deps;
  return jobSet({
    purge: {
      job: periodicJob(() => deps.purger.runOnce(), deps.logger, 'tombstone purge failed'),
      intervalSeconds: config.SYNC_PURGE_INTERVAL_SECONDS,
    },
    accountDeletion: {
      job: deps.deletion,
      intervalSeconds: config.ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS,
    },
  });
}
