import { describe, expect, it } from 'vitest';
import { ifRangeHolds, noneMatch, parseRange } from '../../src/attachments/ranges.js';

const size = 1000;

describe('parseRange', () => {
  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=10-20', 10, 20],
    ['bytes=500-', 500, size - 1],
    ['bytes=-100', size - 100, size - 1],
    [`bytes=-${size + 1000}`, 0, size - 1],
    [`bytes=${size - 10}-${size + 1000}`, size - 10, size - 1],
    ['bytes=5-99999999999999999999', 5, size - 1],
    [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
    ['BYTES = 1 - 2', 1, 2],
  ])('reads %s as bytes %i-%i', (header, start, end) => {
    expect(parseRange(header, size)).toEqual({ kind: 'partial', start, end });
  });

  it.each([
    `bytes=${size}-`,
    `bytes=${size + 5}-${size + 10}`,
    'bytes=-0',
    'bytes=99999999999999999-',
  ])('finds %s unsatisfiable', (header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'unsatisfiable' });
  });

  it.each([
    undefined,
    'bytes=0-1,5-6',
    'bytes=abc',
    'items=0-1',
    'bytes=9-2',
    'bytes=-',
    '0-1',
    '',
  ])('ignores %j (the whole representation)', (header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'full' });
  });

  it('finds any range of an empty representation unsatisfiable, except a suffix (sent whole)', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-0', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-5', 0)).toEqual({ kind: 'full' });
  });
});

describe('conditional requests', () => {
  const etag = '"abc"';

  it.each([etag, `W/${etag}`, `"nope", ${etag}`, '*', ` "x" ,W/"abc"`])(
    'If-None-Match %s matches (weak comparison)',
    (header) => {
      expect(noneMatch(header, etag)).toBe(true);
    },
  );

  it.each([undefined, '"0000", W/"1111"', 'abc', '""'])(
    'If-None-Match %j does not match',
    (header) => {
      expect(noneMatch(header, etag)).toBe(false);
    },
  );

  it.each([
    [undefined, true],
    [etag, true],
    [` ${etag} `, true],
    [`W/${etag}`, false],
    ['"other"', false],
    ['Wed, 21 Oct 2015 07:28:00 GMT', false],
  ])('If-Range %j keeps the range: %s (strong comparison only)', (header, holds) => {
    expect(ifRangeHolds(header, etag)).toBe(holds);
  });
});
