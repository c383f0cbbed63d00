import { Redis } from 'ioredis';
import { type Db, MongoClient } from 'mongodb';
import {
  createEntriesRepository,
  type EntriesRepository,
} from '../../services/sync/src/entries/repository.js';
import { auth, type BenchUser, register } from './client.js';
import { alternate, type LoadResult, WARMUP_SEC } from './measure.js';
import { createReport, type Report } from './report.js';
import { type BenchStack, startBenchStack, startNginx, startNodeProxy } from './stack.js';

/** Knobs of a run (environment variables, documented in bench/run.ts). */
export const SETTINGS = {
  duration: Number(process.env.BENCH_DURATION ?? 5),
  rounds: Number(process.env.BENCH_ROUNDS ?? 3),
  /** Unrecorded seconds before every measurement, services and raw baselines alike. */
  warmup: WARMUP_SEC,
  connections: 10,
  growth: (process.env.BENCH_GROWTH ?? '10000').split(',').map(Number).filter(Boolean),
  bigMiB: Number(process.env.BENCH_BIG_MIB ?? 20),
  waiters: Number(process.env.BENCH_WAITERS ?? 1000),
  /** Stored entries of ONE user for the hot-path scenario (comma-separated). */
  headLevels: (process.env.BENCH_HEAD_LEVELS ?? '0,20000').split(',').map(Number),
  /** Entries pushed by the four concurrent pushers of the hot-path scenario. */
  concurrentEntries: Number(process.env.BENCH_CONCURRENT_ENTRIES ?? 10000),
};

type Paths = 'gateway' | 'direct' | 'nginx' | 'node proxy';

export interface BenchContext {
  stack: BenchStack;
  /** The reference proxies, routed `/auth/…` and `/sync/…` to the services. */
  nginx: { url: string };
  nodeProxy: { url: string };
  mongo: MongoClient;
  db: Db;
  /** Redis with the services' key prefix. */
  redis: Redis;
  /** The sync service's own queries and indexes, for the raw-driver baselines. */
  entries: EntriesRepository;
  pids: Record<string, number | undefined>;
  report: Report;
  /** A registered user with one entry, and the cursor after it. */
  user: BenchUser;
  headers: Record<string, string>;
  /** Values one scenario hands on to a later one. */
  state: {
    cursor?: number;
    reader?: BenchUser;
    /** Two users with one entry each, at `cursor` (empty pulls with and without a hint). */
    pullUsers?: { hint: BenchUser; cold: BenchUser; cursor: number };
    /** Two users with the same full pages of entries (full pages with and without a hint). */
    pageUsers?: { hint: BenchUser; cold: BenchUser };
  };
  /**
   * The same call through the gateway, directly, through nginx and through a bare Node.js
   * proxy, in alternating rounds (median of each): with `SETTINGS.connections` connections for
   * throughput, then with one, where the mean latency (1000 / rate, finer than autocannon's
   * whole-millisecond percentiles) shows what each hop adds when no CPU is saturated.
   */
  compare(
    label: string,
    urls: Record<Paths, string>,
    headers: Record<string, string>,
    baseline?: number,
  ): Promise<void>;
  stop(): Promise<void>;
}

export const meanMs = (r: LoadResult) => (r.requestsPerSec > 0 ? 1000 / r.requestsPerSec : 0);

export async function createContext(): Promise<BenchContext> {
  const stack = await startBenchStack();
  const nginx = await startNginx({ auth: stack.urls.auth, sync: stack.urls.sync });
  const nodeProxy = await startNodeProxy({ auth: stack.urls.auth, sync: stack.urls.sync });
  const mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  const db = mongo.db(stack.options.dbName);
  const redis = new Redis(stack.redisUrl, { keyPrefix: 'journal:' });
  const pids = Object.fromEntries(Object.entries(stack.procs).map(([n, p]) => [n, p.child.pid]));
  const report = createReport();
  const user = await register(stack.urls.gateway, 'bench');

  async function compare(
    label: string,
    urls: Record<Paths, string>,
    headers: Record<string, string>,
    baseline?: number,
  ) {
    const { duration } = SETTINGS;
    // One connection needs shorter windows for a stable mean (no queueing to settle).
    const targets = (connections: number) =>
      Object.fromEntries(
        Object.entries(urls).map(([path, url]) => [
          path,
          connections === 1
            ? { url, headers, connections, durationSec: Math.min(duration, 3), warmupSec: 1 }
            : { url, headers, connections, durationSec: duration },
        ]),
      );
    const many = await alternate(targets(SETTINGS.connections), SETTINGS.rounds);
    for (const [path, r] of Object.entries(many)) report.record(label, path, 'req/s', r, baseline);
    const one = await alternate(targets(1), SETTINGS.rounds);
    for (const [path, r] of Object.entries(one)) {
      report.record(
        `${label} 1 conn`,
        path,
        'req/s',
        r,
        undefined,
        `mean ${meanMs(r).toFixed(2)} ms`,
      );
    }
  }

  return {
    stack,
    nginx,
    nodeProxy,
    mongo,
    db,
    redis,
    entries: createEntriesRepository(db),
    pids,
    report,
    user,
    headers: auth(user),
    state: {},
    compare,
    async stop() {
      await redis.quit().catch(() => {});
      await mongo.close();
      await nginx.stop();
      await nodeProxy.stop();
      await stack.stop();
    },
  };
}

export interface Scenario {
  /** What it measures, as the table names it. */
  name: string;
  run(ctx: BenchContext): Promise<void>;
}
