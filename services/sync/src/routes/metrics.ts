import { Gauge, Histogram, type Registry } from 'prom-client';

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
