import { describe, expect, it, vi } from 'vitest';
import {
  DependencyError,
  dependencyFailed,
  dependencyFailures,
  firstLine,
  loggableError,
  withDeadline,
} from '../../src/outside-faults.js';

async function failures(dependency: string): Promise<number> {
  const metric = await dependencyFailures.get();
  return metric.values.find((v) => v.labels.dependency === dependency)?.value ?? 0;
}

describe('outside faults', () => {
  it('withDeadline rejects after its time, and a late rejection of the call is no stray one', async () => {
    vi.useFakeTimers();
    try {
      let rejectLate: (err: Error) => void = () => {};
      const call = new Promise<never>((_, reject) => {
        rejectLate = reject;
      });
      const bounded = withDeadline(call, 1_000, 'Qiniu list');
      const outcome = bounded.catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(((await outcome) as Error).message).toBe('Qiniu list timed out after 1000 ms');
      const stray = vi.fn();
      process.on('unhandledRejection', stray);
      rejectLate(new Error('too late'));
      await vi.advanceTimersByTimeAsync(10);
      process.off('unhandledRejection', stray);
      expect(stray).not.toHaveBeenCalled();
    } finally {
      vi.useRealTimers();
    }
  });

  it('withDeadline passes a timely result through', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, 'x')).resolves.toBe(7);
  });

  it('dependencyFailed counts once and keeps only the first line of an SDK message', async () => {
    const before = await failures('qiniu');
    const err = dependencyFailed(
      'qiniu',
      'Qiniu list',
      new Error('getaddrinfo ENOTFOUND qiniu.invalid\nheaders: {"authorization":"Qiniu ak:sig"}'),
    );
    expect(err).toBeInstanceOf(DependencyError);
    expect(err.dependency).toBe('qiniu');
    expect(err.message).toBe('Qiniu list: getaddrinfo ENOTFOUND qiniu.invalid');
    expect(await failures('qiniu')).toBe(before + 1);
  });

  it('loggableError has the type, the first line and the stack frames, never the rest of the message', () => {
    const logged = loggableError(new TypeError('bad\nAuthorization: Qiniu ak:sig'));
    expect(logged.type).toBe('TypeError');
    expect(logged.message).toBe('bad');
    expect(logged.stack).toMatch(/^\s+at /);
    expect(JSON.stringify(logged)).not.toContain('ak:sig');
    expect(loggableError('a string')).toEqual({ type: 'string', message: 'a string' });
    expect(firstLine('x'.repeat(400))).toHaveLength(300);
  });
});
