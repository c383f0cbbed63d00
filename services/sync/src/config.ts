import {
  accountDeletionConfigShape,
  envInt,
  mongoConfigShape,
  serviceConfigSchema,
} from '@journal/shared';
import type { z } from 'zod';

export const configSchema = serviceConfigSchema({
  ...mongoConfigShape,
  ...accountDeletionConfigShape,
  PORT: envInt(0, 65535).default(8002),
  /** Tombstones (deleted entries) older than this are purged; older cursors get 410. */
  SYNC_TOMBSTONE_RETENTION_SECONDS: envInt(1, 10 * 365 * 86_400).default(90 * 86_400),
  /** How often each replica runs the purge (safe on every replica at once). 0 turns it off. */
  SYNC_PURGE_INTERVAL_SECONDS: envInt(0, 7 * 86_400).default(3600),
  /**
   * Lifetime of a user's head revision in Redis after the query or push that proved it: the
   * longest a lost head raise (a Redis failover) can delay a change. 0 turns the head off.
   */
  SYNC_HEAD_TTL_SECONDS: envInt(0, 3600).default(60),
  /**
   * Recent changes kept per user in Redis for devices following the feed live (0 turns it off),
   * how long after it was written a change is served from there (capped at a quarter of the
   * tombstone retention), and the largest change kept (bytes of its JSON).
   */
  SYNC_RECENT_CHANGES: envInt(0, 100_000).default(256),
  SYNC_RECENT_TTL_SECONDS: envInt(1, 86_400).default(300),
  SYNC_RECENT_MAX_ENTRY_BYTES: envInt(256, 16 * 1024 * 1024).default(8 * 1024),
  /**
   * Store page reads (pulls that Redis cannot answer) this process runs at once; more wait
   * their turn. Bounds a burst of large pages' memory (docs/scaling.md, "Memory").
   */
  SYNC_MAX_CONCURRENT_PAGE_READS: envInt(1, 1000).default(4),
  /**
   * Long-polls this process holds at once for one user, and in all. Over either, the oldest (of
   * that user; for the process bound, of the user holding the most) answers at once with the
   * empty page a timed-out wait gives, and the new one waits (docs/sync.md, "Long-poll").
   */
  SYNC_LONG_POLL_MAX_PER_USER: envInt(1, 1_000_000).default(32),
  SYNC_LONG_POLL_MAX_PER_PROCESS: envInt(1, 10_000_000).default(50_000),
  /** Quotas per account (docs/scaling.md, "Quotas"): entries and their content's bytes; 0 = none. */
  QUOTA_ENTRIES: envInt(0, 2 ** 40).default(100_000),
  QUOTA_ENTRY_BYTES: envInt(0, 2 ** 50).default(512 * 1024 * 1024),
  /** How long a reply is kept for replay under its Idempotency-Key. */
  SYNC_IDEMPOTENCY_TTL_SECONDS: envInt(60, 7 * 86_400).default(86_400),
  /** Bytes of Idempotency-Key records kept per user in Redis (oldest go first; docs/scaling.md). */
  SYNC_IDEMPOTENCY_MAX_BYTES: envInt(100 * 1024, 64 * 1024 * 1024).default(1024 * 1024),
});

export type Config = z.infer<typeof configSchema>;
