import { connectRedis, type Entry, loadConfig, type PushReply } from '@journal/shared';
import {
  captureLogger,
  mongoUrl,
  redisUrl,
  signTestToken,
  testKeys,
  testMongo,
  testRedis,
} from '../../../test-support/index.js';
import { type AppDeps, buildApp, type SyncApp } from '../src/app.js';
import { configSchema } from '../src/config.js';

export interface Changes {
  changes: Entry[];
  revision: number;
  hasMore: boolean;
}

/**
 * A real database and Redis key prefix for one test file, and a way to build sync apps on them
 * (several apps on one database and Redis behave like replicas).
 */
export async function syncHarness(label: string, options: { monitorCommands?: boolean } = {}) {
  const mongo = await testMongo(
    label,
    options.monitorCommands ? { monitorCommands: true } : undefined,
  );
  const raw = await testRedis(label);
  const redis = await connectRedis(redisUrl(), {
    connectTimeoutMs: 30_000,
    options: { keyPrefix: raw.keyPrefix },
  });
  const keys = await testKeys();
  const apps: SyncApp[] = [];

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      MONGODB_URL: mongoUrl(),
      MONGODB_DB_NAME: mongo.dbName,
      REDIS_URL: redisUrl(),
      REDIS_KEY_PREFIX: raw.keyPrefix,
      JWT_PUBLIC_KEYS: keys.jwks,
      SYNC_PURGE_INTERVAL_SECONDS: '0',
      ...extra,
    };
  }

  async function build(
    extra: Record<string, string> = {},
    deps: Partial<AppDeps> = {},
    options: { subscribed?: boolean } = {},
  ) {
    const config = loadConfig(configSchema, env(extra));
    const { logger, lines } = captureLogger('sync', config.LOG_LEVEL);
    const app = await buildApp({ config, logger, db: mongo.db, redis, ...deps });
    await app.ready();
    if (options.subscribed !== false) await app.sync.notifier.ready();
    apps.push(app);
    return Object.assign(app, { lines });
  }

  return {
    db: mongo.db,
    client: mongo.client,
    redis,
    rawRedis: raw.redis,
    keyPrefix: raw.keyPrefix,
    keys,
    env,
    build,
    token: (userId: string) => signTestToken(keys, { sub: userId }),
    async close() {
      await Promise.all(apps.map((a) => a.close()));
      redis.disconnect();
      await raw.cleanup();
      await mongo.drop();
    },
  };
}

export type Harness = Awaited<ReturnType<typeof syncHarness>>;

let counter = 0;
/** A user id unique within the run. */
export function newUserId(label = 'user'): string {
  counter += 1;
  return `${label}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

export async function push(
  app: SyncApp,
  token: string,
  changes: unknown[],
  options: { deviceId?: string; headers?: Record<string, string> } = {},
) {
  const res = await app.inject({
    method: 'POST',
    url: '/sync/push',
    headers: { ...bearer(token), ...options.headers },
    payload: { changes, ...(options.deviceId ? { deviceId: options.deviceId } : {}) },
  });
  return { res, body: res.json() as PushReply };
}

export async function pull(app: SyncApp, token: string, query = 'since=0') {
  const res = await app.inject({
    method: 'GET',
    url: `/sync/changes?${query}`,
    headers: bearer(token),
  });
  return { res, body: res.json() as Changes };
}

/** Follows the feed from `since` until `hasMore` is false; checks order and `>` on the way. */
export async function pullAll(app: SyncApp, token: string, since = 0, limit = 1000) {
  const seen: Entry[] = [];
  let cursor = since;
  for (let guard = 0; guard < 10_000; guard++) {
    const { res, body } = await pull(app, token, `since=${cursor}&limit=${limit}`);
    if (res.statusCode !== 200) throw new Error(`pull failed: ${res.statusCode} ${res.body}`);
    let previous = cursor;
    for (const entry of body.changes) {
      if (entry.revision <= previous) {
        throw new Error(`revision ${entry.revision} after ${previous} (cursor ${cursor})`);
      }
      previous = entry.revision;
    }
    if (body.revision < cursor)
      throw new Error(`cursor went back from ${cursor} to ${body.revision}`);
    seen.push(...body.changes);
    cursor = body.revision;
    if (!body.hasMore) break;
  }
  return { entries: seen, cursor };
}

/** A gate a test opens by hand: the writer behind it stalls until then. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  let reached!: () => void;
  const arrived = new Promise<void>((resolve) => {
    reached = resolve;
  });
  return {
    async wait() {
      reached();
      await opened;
    },
    arrived,
    open,
  };
}
