import { syncHeadKey, syncRecentKey } from '@journal/shared';
import { metricsPort } from '../../scripts/lib/stack.js';
import type { BenchUser } from './client.js';
import { type BenchContext, SETTINGS } from './context.js';
import { alternateRuns, type LoadResult, timedLoop } from './measure.js';

/**
 * Redis-answered against store-answered, side by side (issue 27): the same call measured with
 * the user's hint in Redis, and with the hint deleted before each request (a cold hint: the
 * head and the recent changes gone, as after their TTL, a Redis restart or a failover), each
 * against the raw driver doing exactly the store work of that path, measured the same way
 * (one connection, the same warm-up and window, alternating rounds). Sync's own counters
 * (`sync_head_reads_total`, `sync_recent_reads_total`, `sync_revision_guesses_total`) say how
 * each request was answered; a "vs raw" ratio is given only when at least 95% of the requests
 * took the path the raw baseline stands for.
 */

type Counter = 'head' | 'recent' | 'guess';
/** The outcome each counted request should have: e.g. `{ head: 'hit', recent: 'miss' }`. */
export type Expected = Partial<Record<Counter, string>>;

const METRIC: Record<Counter, string> = {
  head: 'sync_head_reads_total',
  recent: 'sync_recent_reads_total',
  guess: 'sync_revision_guesses_total',
};

/** Sync's counters by `name{outcome}` (one process: the bench stack runs one sync). */
async function counters(ctx: BenchContext): Promise<Map<string, number>> {
  const port = metricsPort('sync', ctx.stack.options);
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    // e.g. sync_head_reads_total{outcome="hit",service="sync"} 12 (labels in any order)
    const m = /^(sync_\w+_total)\{([^}]*)\} (\d+(?:\.\d+)?)$/.exec(line);
    const outcome = m && /outcome="(\w+)"/.exec(m[2] ?? '')?.[1];
    if (m && outcome) values.set(`${m[1]}:${outcome}`, Number(m[3]));
  }
  return values;
}

/** How the requests of a run were answered, per counter: `{ head: { hit: 12, miss: 0 } }`. */
type Answers = Partial<Record<Counter, Record<string, number>>>;

async function counted<T>(ctx: BenchContext, run: () => Promise<T>) {
  const before = await counters(ctx);
  const result = await run();
  const after = await counters(ctx);
  const answers: Answers = {};
  for (const [key, value] of after) {
    const [metric, outcome] = key.split(':') as [string, string];
    const counter = (Object.keys(METRIC) as Counter[]).find((c) => METRIC[c] === metric);
    const delta = value - (before.get(key) ?? 0);
    if (!counter || delta === 0) continue;
    answers[counter] = { ...answers[counter], [outcome]: delta };
  }
  return { result, answers };
}

/**
 * True when ≥95% of each expected counter's requests had the expected outcome; `'none'`: sync
 * counted nothing (the gateway answered from Redis itself: services/gateway/src/proxy/idle-pull.ts).
 */
function matches(answers: Answers, expected: Expected | 'none'): boolean {
  if (expected === 'none') return Object.keys(answers).length === 0;
  return (Object.entries(expected) as [Counter, string][]).every(([counter, outcome]) => {
    const seen = answers[counter] ?? {};
    const total = Object.values(seen).reduce((a, b) => a + b, 0);
    return total > 0 && (seen[outcome] ?? 0) / total >= 0.95;
  });
}

const meanMs = (r: LoadResult) =>
  r.requestsPerSec > 0 ? (1000 / r.requestsPerSec).toFixed(r.requestsPerSec > 100 ? 3 : 1) : '-';

const describe = (answers: Answers) =>
  (Object.entries(answers) as [Counter, Record<string, number>][])
    .map(
      ([c, seen]) =>
        `${c} ${Object.entries(seen)
          .map(([o, n]) => `${o} ${n}`)
          .join(', ')}`,
    )
    .join('; ');

interface Side {
  expect: Expected;
  gateway?: Expected | 'none';
  raw: string;
  op: () => Promise<unknown>;
}

export interface HintCase {
  /** The table's scenario name, e.g. `2 empty pull`. */
  label: string;
  unit: string;
  /** Units per request (entries of a page or push); 1 for requests. */
  perReq?: number;
  /** One request of `user` against a service base URL (gateway or sync). */
  call(base: string, user: BenchUser): Promise<unknown>;
  /** Two users with the same data: one keeps its hint, the other's is deleted each time. */
  hintUser: BenchUser;
  coldUser: BenchUser;
  /**
   * What sync does with the hint in Redis (`expect`; `gateway`: through the gateway when it
   * differs, `'none'` when the gateway answers alone), and the raw driver doing the same.
   */
  hint: Side;
  /** What sync does without it (the head miss), and the raw driver doing the same. */
  cold: Side;
  /** At most this many recorded requests a run (a scanning store: seconds each). */
  maxOps?: number;
  /** More of the cold user's keys to delete before each request (e.g. its quota counter). */
  coldKeys?: (userId: string) => string[];
  /** Paths to measure (default gateway and direct). */
  paths?: ('gateway' | 'direct')[];
  rounds?: number;
}

/** Measures a `HintCase` and records its rows: hint, raw, cold, raw (per path). */
export async function hintVsStore(ctx: BenchContext, c: HintCase): Promise<void> {
  const { stack, redis, report } = ctx;
  const paths = c.paths ?? ['gateway', 'direct'];
  const bases = { gateway: stack.urls.gateway, direct: stack.urls.sync };
  const window = { durationSec: Math.min(SETTINGS.duration, 3), maxOps: c.maxOps ?? 10_000 };
  const coldKeys = [
    syncHeadKey(c.coldUser.userId),
    syncRecentKey(c.coldUser.userId),
    ...(c.coldKeys?.(c.coldUser.userId) ?? []),
  ];
  const dropHint = () => redis.del(...coldKeys);
  const answers = new Map<string, Answers>();
  const measured =
    (name: string, run: () => Promise<LoadResult>, prime?: () => Promise<unknown>) => async () => {
      await prime?.();
      const r = await counted(ctx, run);
      const seen = answers.get(name) ?? {};
      for (const [counter, outcomes] of Object.entries(r.answers) as [
        Counter,
        Record<string, number>,
      ][]) {
        const sum = { ...seen[counter] };
        for (const [o, n] of Object.entries(outcomes)) sum[o] = (sum[o] ?? 0) + n;
        seen[counter] = sum;
      }
      answers.set(name, seen);
      return r.result;
    };
  const runs: Record<string, () => Promise<LoadResult>> = {};
  for (const path of paths) {
    // One untimed request first, outside the count, after deleting the head: the miss sets it
    // afresh for its 60 s (a hit does not extend it: a head set 59 s ago would expire mid-run).
    // The recent changes stay: the hinted path may read them.
    runs[`hint ${path}`] = measured(
      `hint ${path}`,
      () => timedLoop(() => c.call(bases[path], c.hintUser), window),
      async () => {
        await redis.del(syncHeadKey(c.hintUser.userId));
        await c.call(bases[path], c.hintUser);
      },
    );
  }
  runs['hint raw'] = () => timedLoop(c.hint.op, window);
  for (const path of paths) {
    runs[`cold ${path}`] = measured(`cold ${path}`, () =>
      timedLoop(() => c.call(bases[path], c.coldUser), { ...window, setup: dropHint }),
    );
  }
  runs['cold raw'] = () => timedLoop(c.cold.op, window);
  const results = await alternateRuns(runs, c.rounds ?? SETTINGS.rounds);

  for (const kind of ['hint', 'cold'] as const) {
    const side = c[kind];
    const raw = results[`${kind} raw`] as LoadResult;
    const scenario = `${c.label}, ${kind === 'hint' ? 'hint in Redis' : 'hint deleted (store)'}`;
    for (const path of paths) {
      const r = results[`${kind} ${path}`] as LoadResult;
      const seen = answers.get(`${kind} ${path}`) ?? {};
      const expected = path === 'gateway' ? (side.gateway ?? side.expect) : side.expect;
      const same = matches(seen, expected);
      const how =
        expected === 'none' && same
          ? 'answered by the gateway from Redis, sync counted nothing'
          : `sync counted ${describe(seen) || 'nothing'}`;
      report.record(
        scenario,
        path,
        c.unit,
        r,
        same ? raw.requestsPerSec * (c.perReq ?? 1) : undefined,
        `mean ${meanMs(r)} ms; ${same ? '' : 'NOT the raw path: '}${how}`,
        c.perReq ?? 1,
      );
    }
    report.record(
      scenario,
      `raw: ${side.raw}`,
      c.unit,
      raw,
      undefined,
      `mean ${meanMs(raw)} ms`,
      c.perReq ?? 1,
    );
  }
}
