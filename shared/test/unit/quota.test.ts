import { describe, expect, it } from 'vitest';
import { quotaExceeded, quotaKey, quotaRefusal } from '../../src/quota.js';

describe('quotaRefusal (the check the Redis script makes, and the store fallback)', () => {
  const limits = { count: 10, bytes: 1000 };
  it.each([
    ['under both limits', { count: 3, bytes: 100 }, { count: 1, bytes: 50 }, null],
    ['exactly at the count limit', { count: 9, bytes: 0 }, { count: 1, bytes: 0 }, null],
    ['exactly at the bytes limit', { count: 0, bytes: 900 }, { count: 0, bytes: 100 }, null],
    [
      'one over the count limit',
      { count: 10, bytes: 0 },
      { count: 1, bytes: 0 },
      { field: 'count', usage: 10, limit: 10 },
    ],
    [
      'over the bytes limit',
      { count: 0, bytes: 950 },
      { count: 0, bytes: 51 },
      { field: 'bytes', usage: 950, limit: 1000 },
    ],
    [
      'a decrease while over both limits',
      { count: 20, bytes: 5000 },
      { count: -1, bytes: -10 },
      null,
    ],
    ['no change while over', { count: 20, bytes: 5000 }, { count: 0, bytes: 0 }, null],
    [
      'fewer entries but more bytes while over bytes',
      { count: 5, bytes: 5000 },
      { count: -1, bytes: 10 },
      { field: 'bytes', usage: 5000, limit: 1000 },
    ],
  ])('%s', (_name, usage, delta, expected) => {
    expect(quotaRefusal(usage, delta, limits)).toEqual(expected);
  });

  it('never refuses an unlimited (0) quota', () => {
    expect(
      quotaRefusal({ count: 1e9, bytes: 1e12 }, { count: 5, bytes: 5 }, { count: 0, bytes: 0 }),
    ).toBeNull();
  });
});

describe('the quota problem and key', () => {
  it('is a 403 quota_exceeded naming the quota, its limit, the usage and the request', () => {
    const problem = quotaExceeded('entries', 5, 5, 2).toProblem('/sync/push');
    expect(problem).toMatchObject({
      status: 403,
      code: 'quota_exceeded',
      quota: 'entries',
      limit: 5,
      usage: 5,
      requested: 2,
      instance: '/sync/push',
    });
  });

  it('keeps a user’s counters in one Redis Cluster slot', () => {
    expect(quotaKey('u-1', 'entries')).toBe('quota:{u-1}:entries');
    expect(quotaKey('u-1', 'attachments')).toBe('quota:{u-1}:attachments');
  });
});
