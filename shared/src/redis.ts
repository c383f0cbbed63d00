import { Cluster, Redis as IORedis, type RedisOptions } from 'ioredis';
import { distinctWarnings, type Logger } from './logger.js';

/**
 * A Redis connection as every service uses it: a single server or a Sentinel-managed primary
 * (`ioredis.Redis`), or a Redis Cluster (`ioredis.Cluster`). Both speak the same commands; the
 * rule that keeps Cluster working is that every multi-key command and Lua script names keys of
 * ONE hash slot (hash tags `{...}`, see docs/scaling.md), checked on a real Cluster by
 * tests/reliability/redis-cluster-failover.test.ts.
 */
export type Redis = IORedis | Cluster;
export { Cluster as RedisCluster };

/**
 * Where Redis is: exactly one of a URL (one server), Sentinels (the primary they elect) or the
 * seed nodes of a Cluster. Built from the environment by `redisTargetFromConfig`.
 */
export type RedisTarget =
  | { kind: 'url'; url: string }
  | {
      kind: 'sentinel';
      sentinels: { host: string; port: number }[];
      name: string;
      password?: string;
      sentinelPassword?: string;
    }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; password?: string };

/** The Redis variables of the config schema (shared/src/config.ts). */
export interface RedisConfig {
  REDIS_URL?: string;
  REDIS_SENTINELS?: { host: string; port: number }[];
  REDIS_SENTINEL_NAME?: string;
  REDIS_PASSWORD?: string;
  REDIS_SENTINEL_PASSWORD?: string;
  REDIS_CLUSTER_NODES?: { host: string; port: number }[];
}

export function redisTargetFromConfig(config: RedisConfig): RedisTarget {
  if (config.REDIS_SENTINELS) {
    return {
      kind: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_SENTINEL_NAME ?? 'mymaster',
      password: config.REDIS_PASSWORD,
      sentinelPassword: config.REDIS_SENTINEL_PASSWORD,
    };
  }
  if (config.REDIS_CLUSTER_NODES) {
    return { kind: 'cluster', nodes: config.REDIS_CLUSTER_NODES, password: config.REDIS_PASSWORD };
  }
  if (!config.REDIS_URL) throw new Error('no Redis configured');
  return { kind: 'url', url: config.REDIS_URL };
}

export interface RedisConnectOptions {
  logger?: Logger;
  connectTimeoutMs?: number;
  /** Client options (e.g. `keyPrefix`, `enableAutoPipelining`); for a Cluster they apply to it. */
  options?: RedisOptions;
}

/** Every command gets an answer or an error within this long, so no request hangs on Redis. */
export const REDIS_COMMAND_TIMEOUT_MS = 2_000;

/**
 * Creates a client that reconnects forever with capped back-off and fails commands fast while
 * disconnected (no offline queue), so callers can fail closed instead of hanging. Resolves once
 * the first connection is up, or rejects after `connectTimeoutMs`.
 */
export async function connectRedis(url: string, opts?: RedisConnectOptions): Promise<IORedis>;
export async function connectRedis(target: RedisTarget, opts?: RedisConnectOptions): Promise<Redis>;
export async function connectRedis(
  target: RedisTarget | string,
  opts: RedisConnectOptions = {},
): Promise<Redis> {
  const redis = createRedis(target as RedisTarget, opts);
  const timeout = opts.connectTimeoutMs ?? 60_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      redis.disconnect();
      reject(new Error(`Redis not reachable within ${timeout} ms`));
    }, timeout);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
  return redis;
}

const retryStrategy = (times: number) => Math.min(times * 200, 2_000);
/**
 * Sentinel and Cluster clients reconnect more eagerly: a failover ends when the replica is
 * promoted (1-3 s), and a client still waiting out a long back-off then would prolong the outage.
 */
const failoverRetryStrategy = (times: number) => Math.min(times * 100, 500);

function baseOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy,
  };
}

/** A client that has not necessarily connected yet. */
export function createRedis(url: string, opts?: RedisConnectOptions): IORedis;
export function createRedis(target: RedisTarget, opts?: RedisConnectOptions): Redis;
export function createRedis(target: RedisTarget | string, opts?: RedisConnectOptions): Redis;
export function createRedis(target: RedisTarget | string, opts: RedisConnectOptions = {}): Redis {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'url', url: target } : target;
  let redis: Redis;
  if (t.kind === 'url') {
    redis = new IORedis(t.url, { ...baseOptions(), ...opts.options });
  } else if (t.kind === 'sentinel') {
    redis = new IORedis({
      ...baseOptions(),
      retryStrategy: failoverRetryStrategy,
      sentinels: t.sentinels,
      name: t.name,
      password: t.password,
      sentinelPassword: t.sentinelPassword,
      // Ask the Sentinels again soon when the primary goes away; a demoted primary that is still
      // up answers writes with READONLY: reconnect (through the Sentinels) on that.
      sentinelRetryStrategy: failoverRetryStrategy,
      reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
      ...opts.options,
    });
  } else {
    redis = createCluster(t.nodes, t.password, opts.options ?? {});
  }
  watchErrors(redis, opts.logger, 'Redis');
  return redis;
}

function createCluster(
  nodes: { host: string; port: number }[],
  password: string | undefined,
  options: RedisOptions,
): Cluster {
  const {
    keyPrefix,
    enableAutoPipelining,
    enableOfflineQueue,
    maxRetriesPerRequest,
    autoResubscribe,
    ...rest
  } = {
    ...baseOptions(),
    ...options,
  };
  return new Cluster(nodes, {
    keyPrefix,
    enableAutoPipelining,
    enableOfflineQueue: enableOfflineQueue ?? false,
    clusterRetryStrategy: failoverRetryStrategy,
    // A primary that died is replaced by its replica within cluster-node-timeout; retry the
    // command after these delays instead of failing at once (bounded by the command timeout).
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2_000,
    // Auto-pipelines that met a moved slot fail (503) instead of following it; the periodic
    // refresh is what re-routes them soon after a failover.
    slotsRefreshInterval: 1_000,
    redisOptions: {
      ...stripNodeOptions(rest),
      password,
      maxRetriesPerRequest,
      autoResubscribe,
    },
  });
}

function stripNodeOptions(options: RedisOptions) {
  const {
    retryStrategy: _r,
    host: _h,
    port: _p,
    path: _path,
    sentinels: _s,
    readOnly: _ro,
    ...rest
  } = options;
  return rest;
}

/**
 * A second connection to the same Redis with other options, e.g. a subscriber that queues its
 * SUBSCRIBE until connected (`enableOfflineQueue: true`) and resubscribes after reconnects.
 * For a Cluster, the subscription lives on one node ioredis picks and moves when it fails;
 * PUBLISH reaches every node of a Cluster, so every subscriber hears every message.
 */
export function duplicateRedis(redis: Redis, options: RedisOptions = {}): Redis {
  if (redis instanceof Cluster) {
    const { enableOfflineQueue, ...nodeOptions } = options;
    return redis.duplicate(undefined, {
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      redisOptions: { ...redis.options.redisOptions, ...nodeOptions },
    });
  }
  return redis.duplicate(options);
}

function watchErrors(redis: Redis, logger: Logger | undefined, what: string): void {
  const warnings = distinctWarnings(logger);
  redis.on('error', (err: Error) => warnings.warn(err, `${what} connection error`));
  redis.on('ready', () => {
    if (warnings.reset()) logger?.info(`${what} connection restored`);
  });
}

export async function pingRedis(redis: Redis): Promise<void> {
  const reply = await redis.ping();
  if (reply !== 'PONG') throw new Error(`unexpected PING reply ${reply}`);
}
