import { type DeletionSweeper, jobSet, type Logger, periodicJob } from '@journal/shared';
import type { OrphanSweeper } from './attachments/pending.js';
import type { Config } from './config.js';

/**
 * Every periodic job attachments runs, on every replica (each pass is safe to overlap with
 * another replica's): the orphan sweep (uploads and deletes a dead process left midway) and this
 * service's part of account deletion.
 */
export function createAttachmentsJobs(deps: {
  config: Config;
  logger: Logger;
  orphans: OrphanSweeper;
  deletion: DeletionSweeper;
}) {
  const { config } = deps;
  return jobSet({
    orphanSweep: {
      job: periodicJob(() => deps.orphans.runOnce(), deps.logger, 'orphan sweep failed'),
      intervalSeconds: config.ATTACHMENTS_SWEEP_INTERVAL_SECONDS,
    },
    accountDeletion: {
      job: deps.deletion,
      intervalSeconds: config.ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS,
    },
  });
}
