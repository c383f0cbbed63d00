import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

export interface RedisConnectOptions {
  logger?: Logger;
  connectTimeoutMs?: number;
  options?: RedisOptions;
}

/**
 * Creates an ioredis client that reconnects forever with capped back-off and fails commands
 * fast while disconnected (no offline queue), so callers can fail closed instead of hanging.
 * Resolves once the first connection is up, or rejects after `connectTimeoutMs`.
 */
export async function connectRedis(url: string, opts: RedisConnectOptions = {}): Promise<Redis> {
  const redis = createRedis(url, opts);
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

/** A client that has not necessarily connected yet (used for subscribers and duplicates). */
export function createRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  let lastError = '';
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...opts.options,
  });
  redis.on('error', (err: Error) => {
    // ioredis emits the same error on every retry; log each distinct one once.
    if (err.message !== lastError) {
      lastError = err.message;
      opts.logger?.warn({ err: err.message }, 'Redis connection error');
    }
  });
  redis.on('ready', () => {
    if (lastError) opts.logger?.info('Redis connection restored');
    lastError = '';
  });
  return redis;
}

export async function pingRedis(redis: Redis): Promise<void> {
  const reply = await redis.ping();
  if (reply !== 'PONG') throw new Error(`unexpected PING reply ${reply}`);
}

export type { Redis };
