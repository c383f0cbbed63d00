import type { Db } from 'mongodb';
import { Counter, Gauge, type Registry } from 'prom-client';
import { periodicJob } from '../jobs.js';
import type { Logger } from '../logger.js';
import { firstLine, loggableError } from '../outside-faults.js';
import { duplicateRedis, type Redis } from '../redis.js';
import { deletionChannel } from './announce.js';
import type { AccountDeletionDoc, DeletionService } from './config.js';
import { createAccountDeletions } from './repository.js';

export interface DeletionSweeperOptions {
  db: Db;
  service: DeletionService;
  logger: Logger;
  registry: Registry;
  settleSeconds: number;
  /** Deletes everything the service keeps of the user; must be safe to run again. */
  deleteUser: (record: AccountDeletionDoc) => Promise<void>;
  /**
   * Optional nudge: a pass also starts when auth announces a deletion on Redis, so the data
   * goes at once rather than at the next tick. Only a speed-up: a lost message costs a tick.
   */
  nudge?: { redis: Redis; keyPrefix: string };
}

/** A pass in which some deletions failed (the others were carried out); the first error is `cause`. */
export class DeletionPassError extends Error {
  constructor(failed: number, total: number, cause: unknown) {
    super(`${failed} of ${total} account deletions failed this pass (first: ${firstLine(cause)})`, {
      cause,
    });
    this.name = 'DeletionPassError';
  }
}

/**
 * The per-service sweeper of account deletions, on the shared periodic job. A pass deletes the
 * data of every deletion this service has not completed; a deletion older than the settle
 * time is then marked completed by this service. Safe on every replica at once, and after a
 * crash anywhere: a deletion is completed only after a whole pass over it succeeded. A deletion
 * that fails (an outside dependency down: Qiniu for attachments) does not hold up the others;
 * the pass then fails, is counted, and the periodic job retries it with backoff.
 */
export function createDeletionSweeper(options: DeletionSweeperOptions) {
  const deletions = createAccountDeletions(options.db);
  const completed = new Counter({
    name: 'account_deletions_completed_total',
    help: 'Account deletions this service has carried out completely',
    registers: [options.registry],
  });
  const failures = new Counter({
    name: 'account_deletion_failures_total',
    help: 'Attempts of this service to carry out one account deletion that failed (retried later)',
    registers: [options.registry],
  });
  new Gauge({
    name: 'account_deletion_oldest_pending_seconds',
    help: 'Age of the oldest account deletion not yet completed by every service (0: none)',
    registers: [options.registry],
    // Read at scrape time, so every service reports the same, current value; when MongoDB
    // does not answer, the last value stays.
    async collect() {
      try {
        const at = await deletions.oldestOpen();
        this.set(at ? Math.max(0, (Date.now() - at.getTime()) / 1000) : 0);
      } catch (err) {
        options.logger.warn({ err }, 'could not read the oldest account deletion');
      }
    },
  });
  new Gauge({
    name: 'account_deletions_pending',
    help: 'Account deletions not yet completed by every service',
    registers: [options.registry],
    async collect() {
      try {
        this.set(await deletions.openCount());
      } catch (err) {
        options.logger.warn({ err }, 'could not count the pending account deletions');
      }
    },
  });
  let running: Promise<{ swept: number; completed: number }> | undefined;

  async function pass(now: Date) {
    const open = await deletions.pending(options.service);
    let done = 0;
    let failed = 0;
    let firstError: unknown;
    for (const record of open) {
      try {
        await options.deleteUser(record);
      } catch (err) {
        failed += 1;
        firstError ??= err;
        failures.inc();
        options.logger.warn(
          { userId: record._id, err: loggableError(err) },
          'account deletion failed; retried at a later pass',
        );
        continue;
      }
      if (now.getTime() - record.requestedAt.getTime() >= options.settleSeconds * 1000) {
        await deletions.complete(record._id, options.service);
        completed.inc();
        done += 1;
        options.logger.info(
          { userId: record._id, requestedAt: record.requestedAt.toISOString() },
          'account deletion completed',
        );
      }
    }
    // Every pass (two small queries): also removes a completion a late replica inserted after
    // its deletion had been retired.
    await deletions.retire();
    if (failed > 0) throw new DeletionPassError(failed, open.length, firstError);
    return { swept: open.length, completed: done };
  }

  /** One pass; a pass already running in this process is joined rather than doubled. */
  function runOnce(now = new Date()) {
    running ??= pass(now).finally(() => {
      running = undefined;
    });
    return running;
  }

  const job = periodicJob(
    () => runOnce(),
    options.logger,
    'account deletion sweep failed',
    'account_deletion',
  );
  let subscriber: Redis | undefined;

  /** Subscribes to auth's announcements on a connection of its own (queued until connected). */
  function listen(nudge: { redis: Redis; keyPrefix: string }): void {
    const channel = deletionChannel(nudge.keyPrefix);
    const sub = duplicateRedis(nudge.redis, {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
    });
    sub.on('error', () => {
      // The shared client logs connection trouble; a lost nudge costs one tick.
    });
    sub.subscribe(channel).catch(() => {});
    sub.on('message', (received: string) => {
      if (received !== channel) return;
      runOnce().catch((err: unknown) => {
        options.logger.warn({ err: loggableError(err) }, 'account deletion sweep failed');
      });
    });
    subscriber = sub;
  }

  return {
    deletions,
    runOnce,
    start(intervalSeconds: number): void {
      job.start(intervalSeconds);
      if (intervalSeconds > 0 && options.nudge && !subscriber) listen(options.nudge);
    },
    stop(): void {
      job.stop();
      subscriber?.disconnect();
      subscriber = undefined;
    },
  };
}

export type DeletionSweeper = ReturnType<typeof createDeletionSweeper>;
