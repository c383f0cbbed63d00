import { request as undiciRequest } from 'undici';
import { auth, type BenchUser, mintUsers, push } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { quantile, rssMiB } from '../lib/measure.js';

/** Milliseconds to a tenth. */
const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * `BENCH_WAITERS` devices long-polling like clients (from their cursor, again after each empty
 * wait, until their change arrives), then one push per user: wake-up latency from the moment
 * the push REQUEST is sent (not its acknowledgement) to the moment the device has read its
 * change, never clamped, as p50, p95, p99 and max; the pushes' own round trips beside it; and
 * the memory a waiting pull holds in the gateway and sync.
 */
export const longPollWakeup: Scenario = {
  name: '7 long-poll',
  async run({ stack, pids, report }) {
    const waiters: BenchUser[] = await mintUsers(stack.options, SETTINGS.waiters);
    const memBefore = { gateway: rssMiB(pids.gateway), sync: rssMiB(pids.sync) };
    // Each device long-polls the way a client does: from its cursor, again after each empty
    // wait, until its change arrives. Wake-up = arrival minus the moment its push was sent, both
    // read from the same monotonic clock (performance.now()).
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
          receivedAt.set(w.userId, performance.now());
          return;
        }
        if (status !== 200) await new Promise((r) => setTimeout(r, 1000));
      }
    });
    await new Promise((r) => setTimeout(r, 3000));
    const memHeld = { gateway: rssMiB(pids.gateway), sync: rssMiB(pids.sync) };
    const sentAt = new Map<string, number>();
    const pushMs: number[] = [];
    const pushStarted = Date.now();
    for (let i = 0; i < waiters.length; i += 50) {
      await Promise.all(
        waiters.slice(i, i + 50).map(async (w) => {
          const sent = performance.now();
          sentAt.set(w.userId, sent);
          await push(stack.urls.sync, w, 1);
          pushMs.push(performance.now() - sent);
        }),
      );
    }
    const pushSec = (Date.now() - pushStarted) / 1000;
    await Promise.all(devices);
    const wake = waiters
      .filter((w) => receivedAt.has(w.userId) && sentAt.has(w.userId))
      .map((w) => (receivedAt.get(w.userId) as number) - (sentAt.get(w.userId) as number))
      .sort((a, b) => a - b);
    pushMs.sort((a, b) => a - b);
    const q = (p: number) => round(quantile(wake, p));
    const max = round(wake.at(-1) ?? 0);
    const failed = [...statuses].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0);
    report.extras.longPoll = {
      waiting: waiters.length,
      received: receivedAt.size,
      pullStatuses: Object.fromEntries(statuses),
      pushSeconds: pushSec,
      wakeFrom: 'the push request sent',
      wakeP50: q(0.5),
      wakeP95: q(0.95),
      wakeP99: q(0.99),
      wakeMax: max,
      wakeMin: round(wake[0] ?? 0),
      pushRoundTripP50: round(quantile(pushMs, 0.5)),
      pushRoundTripP95: round(quantile(pushMs, 0.95)),
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
      p95: q(0.95),
      p99: q(0.99),
      max,
      errors: failed,
      note: `of ${waiters.length}; wake-up from the push request sent: p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${max} ms; push round trip p50 ${round(quantile(pushMs, 0.5))} ms; pull statuses ${JSON.stringify(Object.fromEntries(statuses))}; pushes took ${pushSec.toFixed(0)} s; KiB per waiting pull ${JSON.stringify((report.extras.longPoll as { kibPerWaitingPull: unknown }).kibPerWaitingPull)}`,
    });
  },
};
