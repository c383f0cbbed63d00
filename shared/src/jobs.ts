import type { Logger } from './logger.js';
import { jobFailures } from './outside-faults.js';

/** Longest wait between two runs of a failing job (unless its interval is longer). */
export const MAX_BACKOFF_SECONDS = 300;
/** ... and at most this many intervals: a job of 5 s waits at most a minute once its store is back. */
export const MAX_BACKOFF_INTERVALS = 12;

/** A job's metric label from its failure message: `tombstone purge failed` → `tombstone_purge`. */
export function jobName(failure: string): string {
  return (
    failure
      .replace(/\s+failed$/i, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'job'
  );
}

/**
 * How long to wait before the next run after `failures` consecutive failures: the interval
 * (none, or one: the next tick), then doubled each time (2×, 4×, …), at most 12 intervals and
 * at most MAX_BACKOFF_SECONDS (but never less than one interval).
 */
export function nextDelaySeconds(intervalSeconds: number, failures: number): number {
  if (failures <= 1) return intervalSeconds;
  const cap = Math.max(
    intervalSeconds,
    Math.min(intervalSeconds * MAX_BACKOFF_INTERVALS, MAX_BACKOFF_SECONDS),
  );
  return Math.min(cap, intervalSeconds * 2 ** Math.min(failures - 1, 20));
}

/**
 * A background job every replica runs on a timer (the sync purge, the attachments sweeper, the
 * account-deletion sweeper): `run` every `intervalSeconds` (0 turns it off), one run at a time.
 * A failure is logged as a warning, counted (`background_job_failures_total{job}`) and retried
 * later with backoff (the next tick, then 2, 4, … intervals, at most 12 intervals or 5 minutes); it never ends
 * the process. The timer never keeps the process alive.
 */
export function periodicJob(
  run: () => Promise<unknown>,
  logger: Logger,
  failure: string,
  name = jobName(failure),
) {
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let failures = 0;

  function schedule(intervalSeconds: number): void {
    timer = setTimeout(() => {
      timer = undefined;
      let pass: Promise<unknown>;
      try {
        pass = run();
      } catch (err) {
        pass = Promise.reject(err);
      }
      pass
        .then(
          () => {
            if (failures > 0) logger.info({ job: name, failures }, `${name} recovered`);
            failures = 0;
          },
          (err: unknown) => {
            failures += 1;
            jobFailures.inc({ job: name });
            logger.warn(
              {
                err,
                job: name,
                failures,
                retryInSeconds: nextDelaySeconds(intervalSeconds, failures),
              },
              failure,
            );
          },
        )
        .finally(() => {
          if (started) schedule(intervalSeconds);
        });
    }, nextDelaySeconds(intervalSeconds, failures) * 1000);
    timer.unref();
  }

  return {
    start(intervalSeconds: number): void {
      if (intervalSeconds <= 0 || started) return;
      started = true;
      schedule(intervalSeconds);
    },
    stop(): void {
      started = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Anything that runs on a timer: a `periodicJob`, the account-deletion sweeper. */
export interface Schedulable {
  start(intervalSeconds: number): void;
  stop(): void;
}

/**
 * A service's periodic jobs, the one shape every service's `src/jobs.ts` returns: each job with
 * its interval, started together when the app is built, stopped together when it closes.
 */
export function jobSet<T extends Record<string, { job: Schedulable; intervalSeconds: number }>>(
  jobs: T,
) {
  return {
    jobs,
    start(): void {
      for (const { job, intervalSeconds } of Object.values(jobs)) job.start(intervalSeconds);
    },
    stop(): void {
      for (const { job } of Object.values(jobs)) job.stop();
    },
  };
}
