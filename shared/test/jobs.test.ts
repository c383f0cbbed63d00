import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { captureLogger } from '../../test-support/index.js';
import { periodicJob } from '../src/jobs.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('periodicJob', () => {
  it('runs every interval until stopped, and not at all with an interval of 0', async () => {
    const run = vi.fn(async () => {});
    const { logger } = captureLogger();
    const job = periodicJob(run, logger, 'job failed');
    job.start(0);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(run).not.toHaveBeenCalled();

    job.start(2);
    job.start(2); // a second start keeps the one timer
    await vi.advanceTimersByTimeAsync(6_500);
    expect(run).toHaveBeenCalledTimes(3);
    job.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('logs a failure as a warning and runs again at the next tick', async () => {
    let calls = 0;
    const { logger, lines } = captureLogger();
    const job = periodicJob(
      async () => {
        calls += 1;
        if (calls === 1) throw new Error('store unreachable');
      },
      logger,
      'job failed',
    );
    job.start(1);
    await vi.advanceTimersByTimeAsync(2_100);
    job.stop();
    expect(calls).toBe(2);
    const warnings = lines()
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .filter((l) => l.level === 'warn');
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'job failed',
        err: expect.objectContaining({ message: 'store unreachable' }),
      }),
    ]);
  });
});
