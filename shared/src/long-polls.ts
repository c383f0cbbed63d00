/**
 * Bounds on the long-polls (`GET /sync/changes?wait=S`) one process holds: at most `perUser` for
 * one user and at most `total` in all. Pure bookkeeping, used where long-polls are held (sync's
 * notifier) and where they are proxied (the gateway): no timers, no I/O.
 *
 * When a new long-poll goes over a bound, an OLDER one is let go (its `evict` callback runs once,
 * and the caller answers it early with the empty page a timed-out wait gives); the new one is
 * always held:
 * - over `perUser`: the oldest of that same user (`per_user`);
 * - over `total`: the oldest of the user holding the most right now (`total`); among users
 *   holding equally many, the one that reached that count first. A user with fewer than the
 *   largest holder never loses a pull to the total bound, so one account opening many long-polls
 *   only ever displaces its own.
 *
 * Every operation is O(1): users are kept in buckets by how many they hold.
 */

export type LongPollEviction = 'per_user' | 'total';

export interface LongPollLimits {
  /** Most long-polls of one user held at once (at least 1). */
  perUser: number;
  /** Most long-polls held at once in all (at least 1). */
  total: number;
}

/** One held long-poll; `release` when it ends (answered, timed out, client gone). Idempotent. */
export interface HeldLongPoll {
  release(): void;
}

interface Slot {
  evict: (reason: LongPollEviction) => void;
  live: boolean;
}

export function createLongPollBounds(limits: LongPollLimits) {
  const perUser = Math.max(1, Math.floor(limits.perUser));
  const total = Math.max(1, Math.floor(limits.total));
  /** user → their held long-polls, oldest first (a Set keeps insertion order). */
  const byUser = new Map<string, Set<Slot>>();
  /** count → users holding exactly that many, in the order they reached it. */
  const byCount = new Map<number, Set<string>>();
  let maxCount = 0;
  let held = 0;

  function moveUser(userId: string, from: number, to: number): void {
    if (from > 0) {
      const bucket = byCount.get(from);
      bucket?.delete(userId);
      if (bucket && bucket.size === 0) byCount.delete(from);
    }
    if (to > 0) {
      let bucket = byCount.get(to);
      if (!bucket) {
        bucket = new Set();
        byCount.set(to, bucket);
      }
      bucket.add(userId);
    }
    if (to > maxCount) maxCount = to;
    while (maxCount > 0 && !byCount.has(maxCount)) maxCount--;
  }

  function remove(userId: string, slot: Slot): void {
    if (!slot.live) return;
    slot.live = false;
    const slots = byUser.get(userId);
    if (!slots?.delete(slot)) return;
    held--;
    moveUser(userId, slots.size + 1, slots.size);
    if (slots.size === 0) byUser.delete(userId);
  }

  function evictOldest(userId: string, reason: LongPollEviction, keep: Slot): boolean {
    const slots = byUser.get(userId);
    if (!slots) return false;
    for (const slot of slots) {
      if (slot === keep) continue;
      remove(userId, slot);
      slot.evict(reason);
      return true;
    }
    return false;
  }

  return {
    /**
     * Holds a new long-poll of `userId`, letting older ones go (their `evict` runs, synchronously)
     * when a bound is exceeded. `evict` is never called for this one by this call.
     */
    hold(userId: string, evict: (reason: LongPollEviction) => void): HeldLongPoll {
      const slot: Slot = { evict, live: true };
      let slots = byUser.get(userId);
      if (!slots) {
        slots = new Set();
        byUser.set(userId, slots);
      }
      slots.add(slot);
      held++;
      moveUser(userId, slots.size - 1, slots.size);

      while ((byUser.get(userId)?.size ?? 0) > perUser) {
        if (!evictOldest(userId, 'per_user', slot)) break;
      }
      while (held > total) {
        const biggest = byCount.get(maxCount)?.values().next().value;
        if (biggest === undefined || !evictOldest(biggest, 'total', slot)) break;
      }
      return { release: () => remove(userId, slot) };
    },

    /** Long-polls held now, in all and for one user. */
    held(userId?: string): number {
      return userId === undefined ? held : (byUser.get(userId)?.size ?? 0);
    },

    limits: { perUser, total } as const,
  };
}

export type LongPollBounds = ReturnType<typeof createLongPollBounds>;
