import { describe, expect, it } from 'vitest';
import { changeDelta, sumDeltas, versionBytes } from '../../src/quota/entries-quota.js';

const live = (content: string) => ({ deleted: false, content });
const tombstone = { deleted: true, content: null };

describe('what a change adds to the entries quotas', () => {
  it.each([
    ['a create', live('{"a":1}'), undefined, { count: 1, bytes: 7 }],
    [
      'a create of a tombstone (delete of an unknown id)',
      tombstone,
      undefined,
      { count: 0, bytes: 0 },
    ],
    ['a delete', tombstone, live('{"a":1}'), { count: -1, bytes: -7 }],
    ['a growing edit', live('{"a":"long"}'), live('{"a":1}'), { count: 0, bytes: 5 }],
    ['a shrinking edit', live('{}'), live('{"a":1}'), { count: 0, bytes: -5 }],
    ['an undelete', live('{"a":1}'), tombstone, { count: 1, bytes: 7 }],
  ])('%s', (_name, doc, replaced, expected) => {
    expect(changeDelta(doc, replaced)).toEqual(expected);
  });

  it('counts a stored size before the content (superseded versions keep size, lose content)', () => {
    expect(versionBytes({ deleted: false, content: null, size: 42 })).toBe(42);
    expect(versionBytes({ deleted: false, content: 'abc' })).toBe(3);
    expect(versionBytes({ deleted: true, content: null, size: 9 })).toBe(0);
    expect(changeDelta(tombstone, { deleted: false, size: 42 })).toEqual({ count: -1, bytes: -42 });
  });

  it('sums a push’s changes into its net change', () => {
    expect(
      sumDeltas([
        { count: 1, bytes: 10 },
        { count: -1, bytes: -4 },
        { count: 0, bytes: 3 },
      ]),
    ).toEqual({ count: 0, bytes: 9 });
  });
});
