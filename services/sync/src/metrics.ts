import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every metric sync defines (docs/sync.md, "Metrics"), in the registry the shared plugin serves. */

/** Domain counters an operator graphs next to the HTTP histograms. */
export function createSyncMetrics(registry: Registry) {
  return {
    longPollsAnsweredEarly: new Counter({
      name: 'sync_long_polls_answered_early_total',
      help: 'Long-polls answered at once with an empty page because this process held too many (per_user: of that user; per_process: in all)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    pushes: new Counter({
      name: 'sync_pushes_total',
      help: 'Pushes processed (replays of an Idempotency-Key not counted)',
      registers: [registry],
    }),
    changesApplied: new Counter({
      name: 'sync_changes_applied_total',
      help: 'Changes written as a new revision',
      registers: [registry],
    }),
    conflicts: new Counter({
      name: 'sync_conflicts_total',
      help: 'Changes refused because their baseRevision was not the entry’s current revision',
      registers: [registry],
    }),
    insertRetries: new Counter({
      name: 'sync_revision_retries_total',
      help: 'Times a push found its next revision taken by a concurrent push and re-read',
      registers: [registry],
    }),
    headReads: new Counter({
      name: 'sync_head_reads_total',
      help: 'Pulls that looked up the user’s head revision in Redis: hit, or miss (one MongoDB query)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    recentReads: new Counter({
      name: 'sync_recent_reads_total',
      help: 'Pulls below the head: served from the recent changes in Redis (hit), or by MongoDB (miss)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    holesSealed: new Counter({
      name: 'sync_holes_sealed_total',
      help: 'Revisions a pull found empty above the purge horizon and sealed before passing them (a head above the store, a push that read a stale highest revision)',
      registers: [registry],
    }),
    guesses: new Counter({
      name: 'sync_revision_guesses_total',
      help: 'Pushes that guessed their revisions from the head (guessed), had none (no_head), or fell back to reads after a collision (fell_back)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

export type SyncMetrics = ReturnType<typeof createSyncMetrics>;

const SIZE_BUCKETS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/**
 * What the dashboard shows of sync traffic beside the HTTP histograms: how many changes each
 * push carries and each pull returns, and how many long-polls this process holds right now.
 */
export function createSyncTrafficMetrics(registry: Registry, waiting: () => number) {
  new Gauge({
    name: 'sync_long_polls_waiting',
    help: 'GET /sync/changes long-polls this process holds open, waiting for a change',
    registers: [registry],
    collect() {
      this.set(waiting());
    },
  });
  return {
    pushChanges: new Histogram({
      name: 'sync_push_changes',
      help: 'Changes per POST /sync/push (replays of an Idempotency-Key included)',
      buckets: SIZE_BUCKETS,
      registers: [registry],
    }),
    pullChanges: new Histogram({
      name: 'sync_pull_changes',
      help: 'Entries per GET /sync/changes reply',
      buckets: SIZE_BUCKETS,
      registers: [registry],
    }),
  };
}

export type SyncTrafficMetrics = ReturnType<typeof createSyncTrafficMetrics>;
