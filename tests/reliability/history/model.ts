/**
 * The history checker's records (tests/reliability/history.test.ts): what devices were told,
 * what followers received, what the store holds. Plus the seeded PRNG that drives every choice.
 */

/** One version of one entry as a pull serves it (content null for a tombstone). */
export interface Version {
  id: string;
  revision: number;
  deleted: boolean;
  content: unknown;
}

/** A version a push was acknowledged for (a 200 reply listing it in `accepted`). */
export interface Ack extends Version {
  key: string;
  device: number;
  at: number;
}

/** A version in the store, read directly from `entry_versions` (superseded ones included). */
export interface StoreVersion extends Version {
  /** The server's acceptance time (ms): the version was inserted after it. */
  updatedAt: number;
  superseded: boolean;
  /**
   * A seal: the store's filler of a revision no version took (docs/sync.md, "The guarantee: no
   * revision is ever skipped"), id `~seal-<revision>` (no client id has a `~`). Never served.
   */
  seal: boolean;
}

/** One answered pull of a follower: the cursor it sent and the one it got. */
export interface Page {
  since: number;
  revision: number;
  count: number;
  hasMore: boolean;
  limit: number;
  wait: number;
  sentAt: number;
  receivedAt: number;
}

/** A received change, with the index of the page it came in. */
export interface Seen extends Version {
  page: number;
}

export interface FollowerLog {
  name: string;
  seen: Seen[];
  pages: Page[];
  cursor: number;
  /** The store generation the last reply carried (absent while the API has none). */
  generation?: string;
  /** Failed or unanswered pulls (retried with the same cursor). */
  errors: number;
  /** Answers other than 200 or a retryable failure: each one is a violation. */
  unexpected: string[];
}

/** A deterministic PRNG (mulberry32) for one stream of choices of one seed. */
export function prng(seed: number, stream: number) {
  let state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** An integer in [0, n). */
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    hex: (bytes: number) =>
      Array.from({ length: bytes }, () =>
        Math.floor(next() * 256)
          .toString(16)
          .padStart(2, '0'),
      ).join(''),
    shuffle: <T>(items: readonly T[]): T[] => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    },
  };
}

export type Prng = ReturnType<typeof prng>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
