import { describe, expect, it } from 'vitest';
import { createLongPollBounds, type LongPollEviction } from '../../src/long-polls.js';

/** Holds long-polls named `<user>#<n>` and records which were let go, and why. */
function harness(perUser: number, total: number) {
  const bounds = createLongPollBounds({ perUser, total });
  const evicted: string[] = [];
  const handles = new Map<string, { release(): void }>();
  return {
    bounds,
    evicted,
    hold(userId: string, name: string) {
      handles.set(
        name,
        bounds.hold(userId, (reason: LongPollEviction) => evicted.push(`${name}:${reason}`)),
      );
    },
    release(name: string) {
      handles.get(name)?.release();
    },
  };
}

describe('long-poll bounds', () => {
  it('over the per-user bound lets that user’s oldest go, oldest first, and holds the new one', () => {
    const h = harness(3, 100);
    for (let i = 1; i <= 5; i++) h.hold('alice', `a${i}`);
    h.hold('bob', 'b1');
    expect(h.evicted).toEqual(['a1:per_user', 'a2:per_user']);
    expect(h.bounds.held('alice')).toBe(3);
    expect(h.bounds.held('bob')).toBe(1);
    expect(h.bounds.held()).toBe(4);
  });

  it('over the total bound lets the oldest of the user holding the most go, never a smaller holder', () => {
    const h = harness(10, 4);
    h.hold('bob', 'b1');
    h.hold('alice', 'a1');
    h.hold('alice', 'a2');
    h.hold('alice', 'a3');
    // Full: Carol's first pull displaces Alice's oldest, not Bob's older one.
    h.hold('carol', 'c1');
    expect(h.evicted).toEqual(['a1:total']);
    // Alice again: her own oldest goes.
    h.hold('alice', 'a4');
    expect(h.evicted).toEqual(['a1:total', 'a2:total']);
    expect(h.bounds.held()).toBe(4);
    expect(h.bounds.held('bob')).toBe(1);
    expect(h.bounds.held('carol')).toBe(1);
  });

  it('between users holding equally many, the one that got there first loses a pull', () => {
    const h = harness(10, 4);
    h.hold('alice', 'a1');
    h.hold('bob', 'b1');
    h.hold('bob', 'b2');
    h.hold('alice', 'a2');
    // Both hold 2; Bob reached 2 first.
    h.hold('carol', 'c1');
    expect(h.evicted).toEqual(['b1:total']);
    // Now Alice holds the most (2).
    h.hold('dave', 'd1');
    expect(h.evicted).toEqual(['b1:total', 'a1:total']);
  });

  it('with everyone holding one, the longest held goes first', () => {
    const h = harness(1, 3);
    h.hold('u1', 'u1');
    h.hold('u2', 'u2');
    h.hold('u3', 'u3');
    h.hold('u4', 'u4');
    h.hold('u5', 'u5');
    expect(h.evicted).toEqual(['u1:total', 'u2:total']);
    expect(h.bounds.held()).toBe(3);
  });

  it('release frees a place, is idempotent, and a let-go pull releasing later changes nothing', () => {
    const h = harness(2, 3);
    h.hold('alice', 'a1');
    h.hold('alice', 'a2');
    h.release('a1');
    h.release('a1');
    expect(h.bounds.held('alice')).toBe(1);
    h.hold('alice', 'a3');
    expect(h.evicted).toEqual([]);
    h.hold('alice', 'a4');
    expect(h.evicted).toEqual(['a2:per_user']);
    // a2 ends afterwards (its answer went out): the count stays right.
    h.release('a2');
    expect(h.bounds.held('alice')).toBe(2);
    h.release('a3');
    h.release('a4');
    expect(h.bounds.held()).toBe(0);
    expect(h.bounds.held('alice')).toBe(0);
    // Nothing left over: a fresh round behaves as the first.
    h.hold('bob', 'b1');
    h.hold('bob', 'b2');
    h.hold('bob', 'b3');
    expect(h.evicted).toEqual(['a2:per_user', 'b1:per_user']);
  });

  it('a bound of 1 keeps exactly the newest', () => {
    const h = harness(1, 1);
    h.hold('alice', 'a1');
    h.hold('alice', 'a2');
    h.hold('bob', 'b1');
    expect(h.evicted).toEqual(['a1:per_user', 'a2:total']);
    expect(h.bounds.held()).toBe(1);
    expect(h.bounds.held('bob')).toBe(1);
  });

  it('stays exact through a long random run (checked against a plain list)', () => {
    const perUser = 4;
    const total = 25;
    const bounds = createLongPollBounds({ perUser, total });
    /** What should be held: id → user, oldest first. */
    const model = new Map<number, string>();
    const handles = new Map<number, { release(): void }>();
    const countOf = (user: string) => [...model.values()].filter((u) => u === user).length;
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const evictions = { per_user: 0, total: 0 };
    let newest = -1;
    for (let id = 0; id < 3_000; id++) {
      if (random() < 0.3 && model.size > 0) {
        const ids = [...model.keys()];
        const gone = ids[Math.floor(random() * ids.length)] as number;
        handles.get(gone)?.release();
        model.delete(gone);
      }
      const user = `u${Math.floor(random() * 12)}`;
      model.set(id, user);
      newest = id;
      const held = bounds.hold(user, (reason) => {
        const mine = model.get(id) as string;
        expect(id).not.toBe(newest);
        // Its user's oldest …
        expect([...model.entries()].find(([, u]) => u === mine)?.[0]).toBe(id);
        if (reason === 'per_user') expect(mine).toBe(user);
        // … and, for the total bound, of a user holding the most.
        else expect(countOf(mine)).toBe(Math.max(...[...model.values()].map(countOf)));
        model.delete(id);
        evictions[reason]++;
      });
      handles.set(id, held);
      expect(bounds.held()).toBe(model.size);
      expect(bounds.held()).toBeLessThanOrEqual(total);
      expect(bounds.held(user)).toBeLessThanOrEqual(perUser);
      expect(model.has(id)).toBe(true);
      for (const u of new Set(model.values())) expect(bounds.held(u)).toBe(countOf(u));
    }
    expect(evictions.per_user).toBeGreaterThan(0);
    expect(evictions.total).toBeGreaterThan(0);
  });
});
