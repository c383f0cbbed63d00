import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { captureLogger } from '../../test-support/index.js';
import { nextDelaySeconds, periodicJob } from '../src/jobs.js';
import { jobFailures } from '../src/outside-faults.js';

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

describe('periodicJob backoff', () => {
  it('waits 1, 2, 4, 8, then 12 intervals after consecutive failures, counts them, and is back on its interval after a success', async () => {
    const { logger } = captureLogger();
    const times: number[] = [];
    let failing = true;
    const start = Date.now();
    const job = periodicJob(
      async () => {
        times.push((Date.now() - start) / 1000);
        if (failing) throw new Error('Qiniu unreachable');
      },
      logger,
      'backoff probe failed',
    );
    const before = (await jobFailures.get()).values.find((v) => v.labels.job === 'backoff_probe');
    job.start(1);
    await vi.advanceTimersByTimeAsync(41_000);
    // Runs at 1, 2, 4, 8, 16, 28, 40 s: the gaps double, then stop growing at 12 intervals.
    expect(times).toEqual([1, 2, 4, 8, 16, 28, 40]);
    const after = (await jobFailures.get()).values.find((v) => v.labels.job === 'backoff_probe');
    expect((after?.value ?? 0) - (before?.value ?? 0)).toBe(7);
    failing = false;
    await vi.advanceTimersByTimeAsync(11_500);
    expect(times.at(-1)).toBe(52);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(times.slice(-3)).toEqual([52, 53, 54]);
    job.stop();
  });

  it('caps the wait at 5 minutes, and never below the interval', () => {
    expect(nextDelaySeconds(5, 0)).toBe(5);
    expect(nextDelaySeconds(5, 1)).toBe(5);
    expect(nextDelaySeconds(5, 3)).toBe(20);
    expect(nextDelaySeconds(5, 30)).toBe(60);
    expect(nextDelaySeconds(60, 30)).toBe(300);
    expect(nextDelaySeconds(3600, 30)).toBe(3600);
  });
});
