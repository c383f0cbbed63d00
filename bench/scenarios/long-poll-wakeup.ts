import { request as undiciRequest } from 'undici';
import { auth, type BenchUser, mintUsers, push } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { quantile, rssMiB } from '../lib/measure.js';

/**
 * `BENCH_WAITERS` devices long-polling like clients (from their cursor, again after each empty
 * wait, until their change arrives), then one push per user: wake-up latency from the push's
 * acknowledgement, and the memory a waiting pull holds in the gateway and sync.
 */
export const longPollWakeup: Scenario = {
  name: '7 long-poll',
  async run({ stack, pids, report }) {
    const waiters: BenchUser[] = await mintUsers(stack.options, SETTINGS.waiters);
    const memBefore = { gateway: rssMiB(pids.gateway), sync: rssMiB(pids.sync) };
    // Each device long-polls the way a client does: from its cursor, again after each empty
    // wait, until its change arrives. Wake-up = arrival minus the push's acknowledgement.
    const receivedAt = new Map<string, number>();
    const statuses = new Map<number, number>();
    const deadline = Date.now() + 240_000;
    const devices = waiters.map(async (w) => {
      while (Date.now() < deadline) {
        let status = -1;
        let changes = 0;
        try {
          const r = await undiciRequest(`${stack.urls.gateway}/sync/changes?since=0&wait=30`, {
            headers: auth(w),
            bodyTimeout: 90_000,
            headersTimeout: 90_000,
          });
          status = r.statusCode;
          const text = await r.body.text();
          if (status === 200) changes = (JSON.parse(text) as { changes: unknown[] }).changes.length;
        } catch {
          // counted as -1 below
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (changes > 0) {
          receivedAt.set(w.userId, Date.now());
          return;
        }
        if (status !== 200) await new Promise((r) => setTimeout(r, 1000));
      }
    });
    await new Promise((r) => setTimeout(r, 3000));
    const memHeld = { gateway: rssMiB(pids.gateway), sync: rssMiB(pids.sync) };
    const ackedAt = new Map<string, number>();
    const pushStarted = Date.now();
    for (let i = 0; i < waiters.length; i += 50) {
      await Promise.all(
        waiters.slice(i, i + 50).map(async (w) => {
          await push(stack.urls.sync, w, 1);
          ackedAt.set(w.userId, Date.now());
        }),
      );
    }
    const pushSec = (Date.now() - pushStarted) / 1000;
    await Promise.all(devices);
    const wake = waiters
      .filter((w) => receivedAt.has(w.userId) && ackedAt.has(w.userId))
      .map((w) => Math.max(0, (receivedAt.get(w.userId) ?? 0) - (ackedAt.get(w.userId) ?? 0)))
      .sort((a, b) => a - b);
    const q = (p: number) => quantile(wake, p);
    const failed = [...statuses].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0);
    report.extras.longPoll = {
      waiting: waiters.length,
      received: receivedAt.size,
      pullStatuses: Object.fromEntries(statuses),
      pushSeconds: pushSec,
      wakeP50: q(0.5),
      wakeP99: q(0.99),
      kibPerWaitingPull: {
        gateway: Math.round(((memHeld.gateway - memBefore.gateway) * 1024) / waiters.length),
        sync: Math.round(((memHeld.sync - memBefore.sync) * 1024) / waiters.length),
      },
    };
    report.rows.push({
      scenario: '7 long-poll wake-up',
      path: 'gateway',
      unit: 'devices',
      rate: receivedAt.size,
      p50: q(0.5),
      p99: q(0.99),
      errors: failed,
      note: `of ${waiters.length}; pull statuses ${JSON.stringify(Object.fromEntries(statuses))}; pushes took ${pushSec.toFixed(0)} s; KiB per waiting pull ${JSON.stringify((report.extras.longPoll as { kibPerWaitingPull: unknown }).kibPerWaitingPull)}`,
    });
  },
};
