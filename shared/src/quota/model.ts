import { ProblemError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis.js';

/**
 * Per-account quotas (docs/scaling.md, "Quotas"). Each service counts what it stores in a
 * Redis hash per user and kind, `<prefix>quota:{<userId>}:<kind>` with fields `count` and
 * `bytes`: a hint rebuilt from the store whenever it is missing (expired, evicted, lost), never
 * the arbiter of what exists. A write first reserves its increase with one atomic script (check
 * against the limits, then add), writes, then settles (adds what was written minus what was
 * reserved). Concurrent writers of one user are serialised by Redis, so the counter is exact
 * except for the bounded cases documented there.
 */

/** What a quota counter holds: a number of items and their bytes. */
export interface QuotaAmounts {
  count: number;
  bytes: number;
}

/** Limits of one kind; 0 = unlimited. */
export type QuotaLimits = QuotaAmounts;

/** The public names of a kind's two quotas, e.g. `entries` and `entryBytes`. */
export interface QuotaNames {
  count: string;
  bytes: string;
}

/** One quota as the usage calls answer it: `limit` null when unlimited. */
export interface QuotaReading {
  usage: number;
  limit: number | null;
}

/** How long an unused counter lives (refreshed by every reservation and settlement). */
export const QUOTA_COUNTER_TTL_SECONDS = 3600;

export { quotaKey } from '../redis-keys.js';

/** The pure check the script makes, for the fallback without Redis (and unit tests). */
export function quotaRefusal(
  usage: QuotaAmounts,
  delta: QuotaAmounts,
  limits: QuotaLimits,
): { field: keyof QuotaAmounts; usage: number; limit: number } | null {
  for (const field of ['count', 'bytes'] as const) {
    const limit = limits[field];
    if (delta[field] > 0 && limit > 0 && usage[field] + delta[field] > limit) {
      return { field, usage: usage[field], limit };
    }
  }
  return null;
}

/** The 403 `quota_exceeded` problem: names the quota, its limit, the usage and the request. */
export function quotaExceeded(
  name: string,
  limit: number,
  usage: number,
  requested: number,
): ProblemError {
  return new ProblemError(
    'quota_exceeded',
    `the ${name} quota is ${limit} and ${usage} is used; this request needs ${requested} more. ` +
      'Nothing of it was stored: delete something first (deletions are always accepted)',
    { extensions: { quota: name, limit, usage, requested } },
  );
}

/** What a reservation hands back: settle once with what was actually written. */
export interface QuotaReservation {
  /** The usage right after the reservation (null when Redis was not used). */
  readonly usage: QuotaAmounts | null;
  /** Adds `actual - reserved` to the counter (a refund when less was written); once. */
  settle(actual: QuotaAmounts): Promise<void>;
  /** Reserves `more` on top (a streamed upload growing); throws quota_exceeded past a limit. */
  extend(more: QuotaAmounts): Promise<void>;
}

export interface QuotaOptions {
  /** The shared client (key prefix set, no offline queue). */
  redis: Redis;
  /** The counter's kind in its key, e.g. `entries`, `attachments`. */
  kind: string;
  names: QuotaNames;
  limits: QuotaLimits;
  /** The user's current usage read from the store (a streamed scan projecting sizes only). */
  recount: (userId: string) => Promise<QuotaAmounts>;
  logger?: Logger;
  ttlSeconds?: number;
}
