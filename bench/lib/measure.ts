import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type autocannon from 'autocannon';

const execFileAsync = promisify(execFile);

export interface LoadResult {
  requestsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
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
 * Loads each target in turn, `rounds` times over (alternating, so a slow spell of a shared
 * machine hits every target alike), and returns each target's median round by throughput.
 */
export async function alternate(
  targets: Record<string, LoadOptions>,
  rounds: number,
): Promise<Record<string, LoadResult>> {
  const runs: Record<string, LoadResult[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, options] of Object.entries(targets)) {
      const results = runs[name] ?? [];
      results.push(await load(options));
      runs[name] = results;
    }
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, results]) => {
      const sorted = [...results].sort((a, b) => a.requestsPerSec - b.requestsPerSec);
      return [name, sorted[Math.floor(sorted.length / 2)] as LoadResult];
    }),
  );
}

/** The value at quantile `q` (0..1) of ascending `sorted`; 0 when empty. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

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

/** A LoadResult from the latencies of `seconds` of operations. */
function summarize(latencies: number[], seconds: number, errors: number): LoadResult {
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSec: latencies.length / seconds,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    errors,
    non2xx: 0,
    total: latencies.length,
  };
}

/** Runs `op` with `concurrency` parallel loops for `durationSec`; the raw-driver baseline. */
export async function loop(
  op: () => Promise<unknown>,
  concurrency: number,
  durationSec: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + durationSec * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) if (!(await timed(op, latencies))) errors++;
    }),
  );
  return summarize(latencies, durationSec, errors);
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

/** Runs `op` `count` times one after another; rate is per second, latencies in ms. */
export async function sequence(op: () => Promise<unknown>, count: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = Date.now();
  for (let i = 0; i < count; i++) if (!(await timed(op, latencies))) errors++;
  return summarize(latencies, (Date.now() - started) / 1000, errors);
}

/** fetch that throws on a non-2xx answer and reads the whole body. */
export async function ok(url: string, init: RequestInit): Promise<void> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status}`);
}
