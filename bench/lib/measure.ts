import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type autocannon from 'autocannon';
import { request } from 'undici';

const execFileAsync = promisify(execFile);

export interface LoadResult {
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
  /** Every recorded latency (ms), ascending: the in-process driver's only. */
  latencies?: number[];
  /** The rate of every round when the figure is the median of several (`alternate`). */
  rounds?: number[];
}

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  durationSec?: number;
  /** Unrecorded load first (JIT, connection pools); BENCH_WARMUP seconds by default. */
  warmupSec?: number;
}

const LOADGEN = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
/** tsx's CLI: runs the bench's TypeScript helpers as processes of their own. */
export const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

/**
 * Runs autocannon against one URL in a process of its own (bench/lib/loadgen.ts) and returns
 * throughput and latency (ms) of the recorded part, after the warm-up.
 */
export async function load(o: LoadOptions): Promise<LoadResult> {
  const options = {
    url: o.url,
    method: o.method ?? 'GET',
    headers: o.headers ?? {},
    ...(o.body !== undefined ? { body: o.body } : {}),
    connections: o.connections ?? 10,
    durationSec: o.durationSec ?? 5,
    warmupSec: o.warmupSec ?? Number(process.env.BENCH_WARMUP ?? 2),
  };
  const { stdout } = await execFileAsync(
    process.execPath,
    [TSX, LOADGEN, JSON.stringify(options)],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as autocannon.Result;
  return {
    requestsPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    total: result.requests.total,
  };
}

/**
 * Runs each measurement in turn, `rounds` times over (alternating, so a slow spell of a shared
 * machine hits every one alike), and returns each one's median round by throughput, with every
 * round's rate in `rounds` (the report gives min, median and max).
 */
export async function alternateRuns(
  runs: Record<string, () => Promise<LoadResult>>,
  rounds: number,
): Promise<Record<string, LoadResult>> {
  const results: Record<string, LoadResult[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(runs)) {
      const list = results[name] ?? [];
      list.push(await run());
      results[name] = list;
    }
  }
  return Object.fromEntries(
    Object.entries(results).map(([name, list]) => {
      const sorted = [...list].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
      const median = sorted[Math.floor(sorted.length / 2)] as LoadResult;
      return [name, { ...median, rounds: sorted.map((r) => r.requestsPerSec) }];
    }),
  );
}

/** `alternateRuns` of autocannon loads (bench/lib/loadgen.ts). */
export function alternate(
  targets: Record<string, LoadOptions>,
  rounds: number,
): Promise<Record<string, LoadResult>> {
  return alternateRuns(
    Object.fromEntries(Object.entries(targets).map(([name, o]) => [name, () => load(o)])),
    rounds,
  );
}

/** The value at quantile `q` (0..1) of ascending `sorted`; 0 when empty. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/**
 * Unrecorded seconds before every measurement, of the services AND of the raw baselines alike
 * (BENCH_WARMUP, default 2): autocannon's warm-up for HTTP loads, and the same seconds of the
 * operation itself for the timed loops below (at least one operation, at most as many as are
 * then recorded).
 */
export const WARMUP_SEC = Number(process.env.BENCH_WARMUP ?? 2);

/** Runs `op` once, adding its latency (ms) to `latencies`; false when it threw. */
async function timed(op: () => Promise<unknown>, latencies: number[]): Promise<boolean> {
  const t = process.hrtime.bigint();
  let ok = true;
  try {
    await op();
  } catch {
    ok = false;
  }
  latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  return ok;
}

/**
 * A LoadResult from the latencies of `concurrency` closed loops: the rate is concurrency / mean
 * latency, so untimed work between operations (a loop's setup) never counts, and a loop that
 * ends after the window (an operation that takes longer than it) counts no idle time.
 */
function summarize(latencies: number[], concurrency: number, errors: number): LoadResult {
  latencies.sort((a, b) => a - b);
  const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length);
  return {
    requestsPerSec: latencies.length > 0 ? (concurrency * 1000) / mean : 0,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors,
    non2xx: 0,
    total: latencies.length,
    latencies,
  };
}

export interface TimedOptions {
  /** Parallel loops (default 1). */
  concurrency?: number;
  /** Recorded seconds; a loop ends with the first operation that ends after them. */
  durationSec?: number;
  /** At most this many recorded operations in all (a slow store: seconds each). */
  maxOps?: number;
  /** Unrecorded seconds first (default WARMUP_SEC). */
  warmupSec?: number;
  /** Untimed work before each operation, warm-up included (e.g. deleting a hint in Redis). */
  setup?: () => Promise<unknown>;
}

/**
 * The one timed driver of the bench's in-process measurements (raw-driver baselines and the
 * HTTP calls measured beside them): `concurrency` loops of `setup` (untimed) then `op` (timed),
 * first for `warmupSec` unrecorded (at least one operation, at most `maxOps`), then for
 * `durationSec` or `maxOps` operations, whichever comes first.
 */
export async function timedLoop(
  op: () => Promise<unknown>,
  o: TimedOptions = {},
): Promise<LoadResult> {
  const concurrency = o.concurrency ?? 1;
  const maxOps = o.maxOps ?? Number.POSITIVE_INFINITY;
  const phase = async (seconds: number, latencies: number[]) => {
    let errors = 0;
    let started = 0;
    const end = Date.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < maxOps && (started === 0 || Date.now() < end)) {
          started += 1;
          await o.setup?.();
          if (!(await timed(op, latencies))) errors++;
        }
      }),
    );
    return errors;
  };
  await phase(o.warmupSec ?? WARMUP_SEC, []);
  const latencies: number[] = [];
  const errors = await phase(o.durationSec ?? 5, latencies);
  return summarize(latencies, concurrency, errors);
}

/** `concurrency` loops of `op` for `durationSec`, after the same warm-up as the services. */
export function loop(
  op: () => Promise<unknown>,
  concurrency: number,
  durationSec: number,
): Promise<LoadResult> {
  return timedLoop(op, { concurrency, durationSec });
}

/**
 * `op` `count` times one after another, after the same warm-up as everything else (WARMUP_SEC
 * of it, at least once, at most `count` times); rate per second, latencies in ms.
 */
export function sequence(
  op: () => Promise<unknown>,
  count: number,
  setup?: () => Promise<unknown>,
): Promise<LoadResult> {
  return timedLoop(op, {
    maxOps: count,
    durationSec: Number.POSITIVE_INFINITY,
    ...(setup ? { setup } : {}),
  });
}

/** Resident memory of a process in MiB (Linux). */
export function rssMiB(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** Samples RSS of several processes every 50 ms while `fn` runs; returns the peaks. */
export async function peakRss<T>(
  pids: Record<string, number | undefined>,
  fn: () => Promise<T>,
): Promise<{ result: T; before: Record<string, number>; peak: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, rssMiB(p)]));
  const peak = { ...before };
  const timer = setInterval(() => {
    for (const [k, p] of Object.entries(pids)) peak[k] = Math.max(peak[k] ?? 0, rssMiB(p));
  }, 50);
  try {
    const result = await fn();
    return { result, before, peak };
  } finally {
    clearInterval(timer);
  }
}

/**
 * One request with undici's `request` (a keep-alive pool per origin, far less client CPU than
 * fetch: the in-process driver's calls, measured beside raw-driver baselines); throws on a
 * non-2xx answer, reads the whole body.
 */
export async function call(
  url: string,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {},
): Promise<void> {
  const res = await request(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  await res.body.arrayBuffer();
  if (res.statusCode >= 300) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.statusCode}`);
}

/** fetch that throws on a non-2xx answer and reads the whole body. */
export async function ok(url: string, init: RequestInit): Promise<void> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status}`);
}
