import { describe, expect, it } from 'vitest';
import { changesQuerySchema } from '../../src/api/sync.js';
import { emptyPullReply, formatSyncHead, parseSyncHead } from '../../src/sync-head.js';

/** The head value's format (docs/sync.md, "The head in Redis") and the pull's generation. */
describe('the sync head value', () => {
  it('reads the three-part form with its generation and the older two-part form as unknown', () => {
    expect(parseSyncHead('42:1700000000000:Gen_1-x')).toEqual({
      revision: 42,
      observedAt: 1700000000000,
      generation: 'Gen_1-x',
    });
    expect(parseSyncHead('42:1700000000000')).toEqual({
      revision: 42,
      observedAt: 1700000000000,
      generation: null,
    });
    const head = { revision: 7, observedAt: 5, generation: 'abc' };
    expect(parseSyncHead(formatSyncHead(head))).toEqual(head);
    expect(formatSyncHead({ ...head, generation: null })).toBe('7:5');
  });

  it.each([
    null,
    undefined,
    '',
    'junk',
    '1',
    ':5',
    '5:',
    '5::g',
    '5:1:',
    'x:1:g',
    '5:x:g',
    '5:1:g:extra',
    '99999999999999999999:1:g',
  ])('reads %j as no head', (value) => {
    expect(parseSyncHead(value)).toBeNull();
  });

  it('answers an idle pull with the head generation when it is known', () => {
    expect(emptyPullReply(3, 'g')).toEqual({
      changes: [],
      revision: 3,
      hasMore: false,
      generation: 'g',
    });
    expect(emptyPullReply(3)).toEqual({ changes: [], revision: 3, hasMore: false });
  });
});

describe('the generation parameter of a pull', () => {
  it('is optional and accepts 1-64 characters of A-Z a-z 0-9 _ -', () => {
    expect(changesQuerySchema.parse({}).generation).toBeUndefined();
    expect(changesQuerySchema.parse({ generation: 'aZ0_-' }).generation).toBe('aZ0_-');
    expect(changesQuerySchema.parse({ generation: 'a'.repeat(64) }).generation).toHaveLength(64);
  });

  it.each(['', 'a'.repeat(65), 'a b', 'a:b', '../x', '%00', ['a', 'b'], { $gt: '' }, 5])(
    'refuses %j',
    (generation) => {
      expect(changesQuerySchema.safeParse({ generation }).success).toBe(false);
    },
  );
});
