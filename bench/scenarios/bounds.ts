import { auth, register } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { peakRss } from '../lib/measure.js';

const MiB = 1024 * 1024;
const ENTRIES = 12;
const PULLERS = 20;

/**
 * The worst cases one account can cause (docs/scaling.md, "Bounds per account"):
 * - the sync process's RSS while 20 clients pull 1 MiB entries at once with the largest `limit`
 *   (two 4 MiB pages each; the page reads queue four at a time);
 * - the Redis bytes the account holds after pushing 20 stale changes of 1 MiB entries under a
 *   fresh Idempotency-Key each time (the attack that used to store every reply's contents).
 */
export const bounds: Scenario = {
  name: '17 bounds per account',
  async run({ stack, redis, pids, report }) {
    const user = await register(stack.urls.gateway, 'bounds');
    const text = 'x'.repeat(MiB - 64);
    for (let first = 0; first < ENTRIES; first += 8) {
      const changes = Array.from({ length: Math.min(8, ENTRIES - first) }, (_, i) => ({
        id: `big-${first + i}`,
        baseRevision: 0,
        content: { text },
      }));
      const res = await fetch(`${stack.urls.sync}/sync/push`, {
        method: 'POST',
        headers: { ...auth(user), 'content-type': 'application/json' },
        body: JSON.stringify({ changes }),
      });
      if (!res.ok) throw new Error(`push: ${res.status}`);
    }
    const pullTwoPages = async () => {
      let since = 0;
      for (let page = 0; page < 2; page++) {
        const res = await fetch(`${stack.urls.sync}/sync/changes?since=${since}&limit=10000`, {
          headers: auth(user),
        });
        const body = (await res.json()) as { revision: number };
        since = body.revision;
      }
    };
    await pullTwoPages();
    const started = performance.now();
    const { before, peak } = await peakRss({ sync: pids.sync }, () =>
      Promise.all(Array.from({ length: PULLERS }, pullTwoPages)),
    );
    const seconds = (performance.now() - started) / 1000;

    // The attack: 20 stale changes (a few hundred bytes) under a fresh key, three times.
    const stale = Array.from({ length: ENTRIES }, (_, i) => ({
      id: `big-${i}`,
      baseRevision: 0,
      content: { mine: i },
    }));
    for (let round = 0; round < 3; round++) {
      const res = await fetch(`${stack.urls.sync}/sync/push`, {
        method: 'POST',
        headers: {
          ...auth(user),
          'content-type': 'application/json',
          'idempotency-key': `bench-${round}`,
        },
        body: JSON.stringify({ changes: stale }),
      });
      await res.arrayBuffer();
    }
    const keys = [
      `sync:idem:{${user.userId}}:replies`,
      `sync:idem:{${user.userId}}:order`,
      `sync:recent:${user.userId}`,
      `sync:head:${user.userId}`,
      `quota:{${user.userId}}:entries`,
    ];
    // MEMORY USAGE names its key after a subcommand: prefixed here, on a client without one.
    const plain = redis.duplicate({ keyPrefix: '' });
    let redisBytes = 0;
    try {
      for (const key of keys) {
        const prefixed = `${redis.options.keyPrefix ?? ''}${key}`;
        const used = (await plain.call('MEMORY', 'USAGE', prefixed, 'SAMPLES', '0')) as
          | number
          | null;
        redisBytes += used ?? 0;
      }
    } finally {
      plain.disconnect();
    }
    report.extras.bounds = {
      pullers: PULLERS,
      entryMiB: 1,
      syncRssBeforeMiB: before.sync,
      syncRssPeakMiB: peak.sync,
      pullSeconds: seconds,
      redisBytesPerUserAfterAttack: redisBytes,
    };
    report.rows.push({
      scenario: `17 ${PULLERS} worst pulls at once (1 MiB entries, limit 10000)`,
      path: 'direct',
      unit: 'MiB RSS',
      rate: peak.sync ?? 0,
      p50: 0,
      p99: 0,
      errors: 0,
      note: `sync RSS ${before.sync?.toFixed(0)} → ${peak.sync?.toFixed(0)} MiB in ${seconds.toFixed(1)} s (Node's default heap here; the chart's heap of half the pod's limit holds it under 256 MiB: services/sync/test/pull-memory.test.ts); Redis bytes of the account after 3 stale pushes of ${ENTRIES} × 1 MiB conflicts: ${redisBytes}`,
    });
  },
};
