import { describe, expect, it } from 'vitest';
import {
  changesQuerySchema,
  idempotencyKeySchema,
  pushRequestSchema,
  SYNC_LIMITS,
} from '../../src/api/sync.js';

function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

const ok = { id: 'ok', baseRevision: 0, content: {} };

/** The dotted paths a push body is refused at (empty when it is accepted). */
function refusedAt(changes: unknown[]): string[] {
  const result = pushRequestSchema.safeParse({ changes });
  return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
}

describe('push bodies', () => {
  it.each<[string, unknown[], string]>([
    ['a path in the id', [{ id: '../etc', baseRevision: 0, content: {} }], 'changes.0.id'],
    ['a 129-character id', [{ id: 'x'.repeat(129), baseRevision: 0, content: {} }], 'changes.0.id'],
    ['an operator as id', [{ id: { $gt: '' }, baseRevision: 0, content: {} }], 'changes.0.id'],
    ['a text base', [ok, { id: 'b', baseRevision: 'zero', content: {} }], 'changes.1.baseRevision'],
    ['a negative base', [{ id: 'b', baseRevision: -1, content: {} }], 'changes.0.baseRevision'],
    ['a fractional base', [{ id: 'b', baseRevision: 1.5, content: {} }], 'changes.0.baseRevision'],
    ['text content', [{ id: 'b', baseRevision: 0, content: 'text' }], 'changes.0.content'],
    ['array content', [{ id: 'b', baseRevision: 0, content: [1, 2] }], 'changes.0.content'],
    ['no content', [{ id: 'b', baseRevision: 0 }], 'changes.0.content'],
    ['null content', [{ id: 'b', baseRevision: 0, content: null }], 'changes.0.content'],
    [
      'content on a delete',
      [{ id: 'b', baseRevision: 0, deleted: true, content: { x: 1 } }],
      'changes.0.content',
    ],
    [
      'content 33 levels deep',
      [ok, { id: 'd', baseRevision: 0, content: deep(33) }],
      'changes.1.content',
    ],
    [
      'a date that is not ISO-8601',
      [{ id: 'b', baseRevision: 0, content: {}, clientUpdatedAt: 'yesterday' }],
      'changes.0.clientUpdatedAt',
    ],
    ['an unknown field', [{ id: 'b', baseRevision: 0, content: {}, extra: 1 }], 'changes.0'],
    ['one id twice', [ok, ok], 'changes.1.id'],
  ])('refuses %s, naming %s', (_name, changes, path) => {
    expect(refusedAt(changes)).toContain(path);
  });

  it('accepts content 32 levels deep, a delete without content, and 500 changes', () => {
    expect(refusedAt([{ id: 'd', baseRevision: 0, content: deep(32) }])).toEqual([]);
    expect(refusedAt([{ id: 'd', baseRevision: 3, deleted: true }])).toEqual([]);
    const many = Array.from({ length: SYNC_LIMITS.maxChangesPerPush }, (_, i) => ({
      id: `e${i}`,
      baseRevision: 0,
      content: {},
    }));
    expect(refusedAt(many)).toEqual([]);
    expect(refusedAt([...many, { id: 'one-more', baseRevision: 0, content: {} }])).toContain(
      'changes',
    );
  });
});

describe('pull queries', () => {
  it.each<Record<string, unknown>>([
    { since: '-1' },
    { since: { $gt: '0' } },
    { since: ['1', '2'] },
    { since: '0x10' },
    { since: '1e3' },
    { since: '\u0000' },
    { since: ' 1' },
    { limit: '0' },
    { limit: '10001' },
    { limit: 'abc' },
    { limit: '1e9' },
    { wait: '31' },
    { wait: '-1' },
    { wait: '1.5' },
    { other: '1' },
  ])('refuses %j', (query) => {
    expect(changesQuerySchema.safeParse(query).success).toBe(false);
  });

  it('fills the defaults and takes the bounds', () => {
    expect(changesQuerySchema.parse({})).toEqual({ since: 0, limit: 500, wait: 0 });
    expect(changesQuerySchema.parse({ since: '7', limit: '1000', wait: '30' })).toEqual({
      since: 7,
      limit: 1000,
      wait: 30,
    });
  });
});

describe('Idempotency-Key', () => {
  it.each(['x'.repeat(129), 'has space', 'semi;colon', 'ü', ''])('refuses %j', (key) => {
    expect(idempotencyKeySchema.safeParse(key).success).toBe(false);
  });
  it.each(['a', 'k-1._:+/=~', 'x'.repeat(128)])('accepts %j', (key) => {
    expect(idempotencyKeySchema.safeParse(key).success).toBe(true);
  });
});
