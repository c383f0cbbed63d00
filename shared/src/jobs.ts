import type { Logger } from './logger.js';

/**
 * A background job every replica runs on a timer (the sync purge, the attachments sweeper):
 * `run` every `intervalSeconds` (0 turns it off), a failure logged as a warning and retried at
 * the next tick, the timer never keeping the process alive.
 */
export function periodicJob(run: () => Promise<unknown>, logger: Logger, failure: string) {
  let timer: NodeJS.Timeout | undefined;
  return {
    start(intervalSeconds: number): void {
      if (intervalSeconds <= 0 || timer) return;
      timer = setInterval(() => {
        run().catch((err: unknown) => logger.warn({ err }, failure));
      }, intervalSeconds * 1000);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
