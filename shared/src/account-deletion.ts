import type { Db } from 'mongodb';
import { Counter, Gauge, type Registry } from 'prom-client';
import { envInt } from './config.js';
import { periodicJob } from './jobs.js';
import type { Logger } from './logger.js';
import { duplicateRedis, type Redis, RedisCluster } from './redis.js';
import { ensureIndexes, isDuplicateKey } from './storage.js';

/**
 * Account deletion across services, without any service importing another (see
 * docs/account-deletion.md). Auth inserts one record per deleted user into `account_deletions`
 * before it answers 202; each service that keeps user data sweeps the records it has not
 * completed, deletes that user's data (idempotently: every step can run again), and inserts a
 * completion record `account_deletion_done` (unique `_id` = `<service>:<userId>`). Once every
 * service has completed a deletion, any sweeper retires it (the records themselves carry the
 * user id, so they go too). Everything is an insert or a delete: nothing depends on an atomic
 * update, which FerretDB 1.24 does not have.
 */

/** The services that keep user data; a deletion is complete when each has completed it. */
export const DELETION_SERVICES = ['auth', 'sync', 'attachments'] as const;
export type DeletionService = (typeof DELETION_SERVICES)[number];

/** The variables of the deletion sweeper (auth, sync and attachments read them). */
export const accountDeletionConfigShape = {
  /** How often each replica looks for account deletions to carry out. 0 turns it off. */
  ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: envInt(0, 3600).default(5),
  /**
   * A deletion is swept again on every pass until this long after it was requested, so a
   * write of a request that was already in flight when the account was deleted is caught.
   */
  ACCOUNT_DELETION_SETTLE_SECONDS: envInt(0, 3600).default(20),
} as const;

export interface AccountDeletionDoc {
  /** The deleted user's id. */
  _id: string;
  requestedAt: Date;
  /** Lower-cased username, for keys that are keyed by name (the login-failure counter). */
  usernameLower?: string;
}

interface DeletionDoneDoc {
  /** `<service>:<userId>`: one completion per service and user. */
  _id: string;
  userId: string;
  service: string;
  completedAt: Date;
}

const SCAN_LIMIT = 1000;

export function createAccountDeletions(db: Db) {
  const records = db.collection<AccountDeletionDoc>('account_deletions');
  const done = db.collection<DeletionDoneDoc>('account_deletion_done');

  return {
    async ensureIndexes(): Promise<void> {
      await ensureIndexes(records, [{ key: { requestedAt: 1 }, name: 'requestedAt' }]);
      await ensureIndexes(done, [{ key: { userId: 1 }, name: 'userId' }]);
    },

    /** Records the deletion; idempotent: a repeat returns the first request's time. */
    async request(userId: string, usernameLower: string): Promise<Date> {
      const requestedAt = new Date();
      try {
        await records.insertOne({ _id: userId, requestedAt, usernameLower });
        return requestedAt;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        const existing = await records.findOne({ _id: userId });
        return existing?.requestedAt ?? requestedAt;
      }
    },

    /** True while a deletion of `userId` is under way (not retired yet). */
    async isDeleted(userId: string): Promise<boolean> {
      return (await records.findOne({ _id: userId }, { projection: { _id: 1 } })) !== null;
    },

    /** Deletions `service` has not completed, oldest first. */
    async pending(service: DeletionService): Promise<AccountDeletionDoc[]> {
      const open = await records.find({}).sort({ requestedAt: 1 }).limit(SCAN_LIMIT).toArray();
      if (open.length === 0) return [];
      const completed = await done
        .find({ _id: { $in: open.map((r) => `${service}:${r._id}`) } }, { projection: { _id: 1 } })
        .toArray();
      const ids = new Set(completed.map((d) => d._id));
      return open.filter((r) => !ids.has(`${service}:${r._id}`));
    },

    /** Records that `service` has deleted everything of `userId`; idempotent. */
    async complete(userId: string, service: DeletionService): Promise<void> {
      try {
        await done.insertOne({
          _id: `${service}:${userId}`,
          userId,
          service,
          completedAt: new Date(),
        });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
      }
    },

    /**
     * Removes deletions every service has completed (record first, then its completions), and
     * completions whose deletion is gone (a replica that finished late). Returns how many
     * deletions were retired.
     */
    async retire(): Promise<number> {
      const open = await records
        .find({}, { projection: { _id: 1 } })
        .limit(SCAN_LIMIT)
        .toArray();
      const openIds = new Set(open.map((r) => r._id));
      const completions = await done
        .find({}, { projection: { _id: 1, userId: 1 } })
        .limit(SCAN_LIMIT * DELETION_SERVICES.length)
        .toArray();
      const count = new Map<string, number>();
      const orphans: string[] = [];
      for (const c of completions) {
        if (openIds.has(c.userId)) count.set(c.userId, (count.get(c.userId) ?? 0) + 1);
        else orphans.push(c._id);
      }
      const finished = [...count]
        .filter(([, n]) => n >= DELETION_SERVICES.length)
        .map(([id]) => id);
      if (finished.length > 0) {
        await records.deleteMany({ _id: { $in: finished } });
        await done.deleteMany({ userId: { $in: finished } });
      }
      // An orphan may also be a completion inserted between the two reads above for a record
      // created meanwhile: only those whose record is really gone are removed.
      if (orphans.length > 0) {
        const stillOpen = await records
          .find(
            {
              _id: { $in: completions.filter((c) => orphans.includes(c._id)).map((c) => c.userId) },
            },
            { projection: { _id: 1 } },
          )
          .toArray();
        const keep = new Set(stillOpen.map((r) => r._id));
        const gone = completions.filter((c) => orphans.includes(c._id) && !keep.has(c.userId));
        if (gone.length > 0) await done.deleteMany({ _id: { $in: gone.map((c) => c._id) } });
      }
      return finished.length;
    },

    /** When the oldest deletion not yet completed by every service was requested. */
    async oldestOpen(): Promise<Date | null> {
      const [oldest] = await records
        .find({}, { projection: { requestedAt: 1 } })
        .sort({ requestedAt: 1 })
        .limit(1)
        .toArray();
      return oldest?.requestedAt ?? null;
    },
  };
}

export type AccountDeletions = ReturnType<typeof createAccountDeletions>;

/**
 * Deletes every key matching `pattern` (a SCAN glob, without the key prefix) of a client whose
 * `keyPrefix` is `keyPrefix`. SCAN patterns are not prefixed by ioredis, and the keys it returns
 * are: the prefix is added to the pattern and stripped from the keys before DEL re-adds it.
 */
export async function deleteKeysMatching(
  redis: Redis,
  keyPrefix: string,
  pattern: string,
): Promise<number> {
  let deleted = 0;
  // A Redis Cluster spreads keys over its primaries: SCAN each of them. One DEL per key, since
  // keys of one pattern hash to different slots (a multi-key DEL would fail with CROSSSLOT).
  const sources = redis instanceof RedisCluster ? redis.nodes('master') : [redis];
  for (const source of sources) {
    let cursor = '0';
    do {
      const [next, keys] = await source.scan(
        cursor,
        'MATCH',
        `${keyPrefix}${pattern}`,
        'COUNT',
        1000,
      );
      cursor = next;
      const own = keys.filter((k) => k.startsWith(keyPrefix)).map((k) => k.slice(keyPrefix.length));
      const counts = await Promise.all(own.map((k) => redis.del(k)));
      deleted += counts.reduce((a, b) => a + b, 0);
    } while (cursor !== '0');
  }
  return deleted;
}

/** The pub/sub channel on which auth announces a new deletion (ioredis does not prefix it). */
export function deletionChannel(keyPrefix: string): string {
  return `${keyPrefix}account-deletions`;
}

/** Tells every sweeper a deletion was recorded; best effort (the periodic pass is the guarantee). */
export async function announceDeletion(redis: Redis, keyPrefix: string, userId: string) {
  await redis.publish(deletionChannel(keyPrefix), userId);
}

export interface DeletionSweeperOptions {
  db: Db;
  service: DeletionService;
  logger: Logger;
  registry: Registry;
  settleSeconds: number;
  /** Deletes everything the service keeps of the user; must be safe to run again. */
  deleteUser: (record: AccountDeletionDoc) => Promise<void>;
  /**
   * Optional nudge: a pass also starts when auth announces a deletion on Redis, so the data
   * goes at once rather than at the next tick. Only a speed-up: a lost message costs a tick.
   */
  nudge?: { redis: Redis; keyPrefix: string };
}

/**
 * The per-service sweeper of account deletions, on the shared periodic job. A pass deletes the
 * data of every deletion this service has not completed; a deletion older than the settle
 * time is then marked completed by this service. Safe on every replica at once, and after a
 * crash anywhere: a deletion is completed only after a whole pass over it succeeded.
 */
export function createDeletionSweeper(options: DeletionSweeperOptions) {
  const deletions = createAccountDeletions(options.db);
  const completed = new Counter({
    name: 'account_deletions_completed_total',
    help: 'Account deletions this service has carried out completely',
    registers: [options.registry],
  });
  new Gauge({
    name: 'account_deletion_oldest_pending_seconds',
    help: 'Age of the oldest account deletion not yet completed by every service (0: none)',
    registers: [options.registry],
    // Read at scrape time, so every service reports the same, current value; when MongoDB
    // does not answer, the last value stays.
    async collect() {
      try {
        const at = await deletions.oldestOpen();
        this.set(at ? Math.max(0, (Date.now() - at.getTime()) / 1000) : 0);
      } catch (err) {
        options.logger.warn({ err }, 'could not read the oldest account deletion');
      }
    },
  });
  let running: Promise<{ swept: number; completed: number }> | undefined;

  async function pass(now: Date) {
    const open = await deletions.pending(options.service);
    let done = 0;
    for (const record of open) {
      await options.deleteUser(record);
      if (now.getTime() - record.requestedAt.getTime() >= options.settleSeconds * 1000) {
        await deletions.complete(record._id, options.service);
        completed.inc();
        done += 1;
        options.logger.info(
          { userId: record._id, requestedAt: record.requestedAt.toISOString() },
          'account deletion completed',
        );
      }
    }
    // Every pass (two small queries): also removes a completion a late replica inserted after
    // its deletion had been retired.
    await deletions.retire();
    return { swept: open.length, completed: done };
  }

  /** One pass; a pass already running in this process is joined rather than doubled. */
  function runOnce(now = new Date()) {
    running ??= pass(now).finally(() => {
      running = undefined;
    });
    return running;
  }

  const job = periodicJob(() => runOnce(), options.logger, 'account deletion sweep failed');
  let subscriber: Redis | undefined;

  /** Subscribes to auth's announcements on a connection of its own (queued until connected). */
  function listen(nudge: { redis: Redis; keyPrefix: string }): void {
    const channel = deletionChannel(nudge.keyPrefix);
    const sub = duplicateRedis(nudge.redis, {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
    });
    sub.on('error', () => {
      // The shared client logs connection trouble; a lost nudge costs one tick.
    });
    sub.subscribe(channel).catch(() => {});
    sub.on('message', (received: string) => {
      if (received !== channel) return;
      runOnce().catch((err: unknown) => {
        options.logger.warn({ err }, 'account deletion sweep failed');
      });
    });
    subscriber = sub;
  }

  return {
    deletions,
    runOnce,
    start(intervalSeconds: number): void {
      job.start(intervalSeconds);
      if (intervalSeconds > 0 && options.nudge && !subscriber) listen(options.nudge);
    },
    stop(): void {
      job.stop();
      subscriber?.disconnect();
      subscriber = undefined;
    },
  };
}

export type DeletionSweeper = ReturnType<typeof createDeletionSweeper>;
