import type { Entry } from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { pageOf } from '../../src/changes/recent.js';

/** A member of the recent changes as the page sees it: the entry's JSON and its facts. */
const entry = (revision: number, id: string, content: Record<string, unknown> | null = {}) => {
  const value = {
    id,
    revision,
    deleted: content === null,
    content,
    clientUpdatedAt: null,
    updatedAt: new Date(0).toISOString(),
    deviceId: null,
  } satisfies Entry;
  const size = content === null ? 0 : JSON.stringify(content).length;
  return { id, revision, size, json: JSON.stringify(value) };
};

const budget = { limit: 1000, maxContentBytes: 8 * 1024 * 1024 };
const ids = (changes: string[]) =>
  changes.map((json) => JSON.parse(json) as Entry).map((c) => `${c.id}@${c.revision}`);

describe('a page of the recent changes', () => {
  it('drops a version a later one in the run replaces, and ends at the run’s last revision', () => {
    const run = [entry(11, 'a'), entry(12, 'b'), entry(13, 'a'), entry(14, 'c', null)];
    const page = pageOf(run, 10, budget);
    expect(ids(page.changes)).toEqual(['b@12', 'a@13', 'c@14']);
    expect(page).toMatchObject({ revision: 14, hasMore: false });
  });

  it('stops at the limit with hasMore, the cursor at the last change served', () => {
    const run = [entry(1, 'a'), entry(2, 'b'), entry(3, 'c'), entry(4, 'a')];
    const first = pageOf(run, 0, { ...budget, limit: 1 });
    expect(ids(first.changes)).toEqual(['b@2']);
    expect(first).toMatchObject({ revision: 2, hasMore: true });
    const second = pageOf(run.slice(2), 2, { ...budget, limit: 1 });
    expect(ids(second.changes)).toEqual(['c@3']);
    expect(second).toMatchObject({ revision: 3, hasMore: true });
    const third = pageOf(run.slice(3), 3, { ...budget, limit: 1 });
    expect(third).toMatchObject({ revision: 4, hasMore: false });
  });

  it('ends a page early past its content budget, always serving at least one change', () => {
    const big = { text: 'x'.repeat(100) };
    const run = [entry(1, 'a', big), entry(2, 'b', big), entry(3, 'c', big)];
    const page = pageOf(run, 0, { limit: 10, maxContentBytes: 150 });
    expect(ids(page.changes)).toEqual(['a@1']);
    expect(page).toMatchObject({ revision: 1, hasMore: true });
    expect(pageOf(run, 0, { limit: 10, maxContentBytes: 1 }).changes).toHaveLength(1);
  });
});
