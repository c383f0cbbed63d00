import type { Db } from 'mongodb';
import { distinctWarnings, type Logger } from './logger.js';
import { duplicateRedis, type Redis } from './redis.js';
import { CLOCK_SKEW_SECONDS, type VerifiedToken } from './tokens.js';

/**
 * Ended sessions, as every service learns of them without a Redis round trip per request.
 *
 * auth writes each revocation to MongoDB first (insert-only records, below), then publishes it
 * on `<REDIS_KEY_PREFIX>revocations`. Every service keeps the revocations of the last access-token
 * lifetime in memory: loaded from MongoDB at start-up (before it listens) and again once the
 * subscription is active (so none falls between), added from the channel as they happen,
 * reloaded after a lost subscription and on a timer (RESYNC, 60 s).
 * A record is forgotten once every token it covers has expired: token lifetimes are bounded by
 * JWT_ACCESS_TTL_SECONDS and `iat` by the clock skew (tokens.ts), so a token issued before the
 * revocation expires within TTL + skew of it.
 */

/** One session's end (auth's `session_revocations`, `_id` = session id). */
export interface SessionRevocationRecord {
  _id: string;
  userId: string;
  revokedAt: Date;
  reason: string;
  /** Clean-up time (TTL index or purge), well past the session's last refresh token. */
  expiresAt: Date;
}

/**
 * Every session of a user issued before `revokedAt` (auth's `user_revocations`): logout on all
 * devices, a password change (which keeps `keepSessionId`, the caller's), account deletion.
 * Covers sessions a per-session revocation could miss (one started while the list was read).
 */
export interface UserRevocationRecord {
  _id: string;
  userId: string;
  revokedAt: Date;
  /** A session that stays (the caller's own, on a password change); null: none. */
  keepSessionId: string | null;
  reason: string;
  expiresAt: Date;
}

export const SESSION_REVOCATIONS = 'session_revocations';
export const USER_REVOCATIONS = 'user_revocations';

/** The pub/sub channel under a key prefix. */
import { revocationChannel } from './redis-keys.js';

export { revocationChannel };

export type RevocationMessage =
  | { kind: 'session'; sessionId: string; userId: string; at: number }
  | { kind: 'user'; userId: string; at: number; keep: string | null };

/** Publishes a revocation already stored in MongoDB (auth); a lost message is caught by resync. */
export async function publishRevocation(
  redis: Redis,
  keyPrefix: string,
  message: RevocationMessage,
): Promise<void> {
  await redis.publish(revocationChannel(keyPrefix), JSON.stringify(message));
}

/** How long after a revocation a token it covers can still be unexpired. */
export function revocationWindowMs(accessTtlSeconds: number): number {
  return (accessTtlSeconds + 2 * CLOCK_SKEW_SECONDS) * 1000;
}

/** The in-memory set: pure, so its rules are unit-tested without servers. */
export function createRevocationSet(accessTtlSeconds: number) {
  const windowMs = revocationWindowMs(accessTtlSeconds);
  /** session id -> revocation time (ms). */
  const sessions = new Map<string, number>();
  /** user id -> revocations of all the user's sessions. */
  const users = new Map<string, { at: number; keep: string | null }[]>();

  return {
    add(message: RevocationMessage): void {
      if (message.kind === 'session') {
        const known = sessions.get(message.sessionId);
        if (known === undefined || message.at < known) sessions.set(message.sessionId, message.at);
        return;
      }
      const list = users.get(message.userId) ?? [];
      if (!list.some((r) => r.at === message.at && r.keep === message.keep)) {
        list.push({ at: message.at, keep: message.keep });
        users.set(message.userId, list);
      }
    },

    /**
     * True when the token's session has ended. A user-wide revocation at time T covers tokens
     * issued in a whole second before T (`iat` has one-second resolution: a session started in
     * the same second as T, e.g. a login right after "log out everywhere", stays valid; the
     * sessions that existed at T also have records of their own).
     */
    isRevoked(token: Pick<VerifiedToken, 'sessionId' | 'userId' | 'issuedAt'>): boolean {
      if (sessions.has(token.sessionId)) return true;
      const list = users.get(token.userId);
      if (!list) return false;
      return list.some(
        (r) => token.sessionId !== r.keep && token.issuedAt < Math.floor(r.at / 1000),
      );
    },

    /** Drops what no unexpired token can be covered by any more. */
    prune(now = Date.now()): void {
      for (const [id, at] of sessions) if (at + windowMs < now) sessions.delete(id);
      for (const [id, list] of users) {
        const kept = list.filter((r) => r.at + windowMs >= now);
        if (kept.length) users.set(id, kept);
        else users.delete(id);
      }
    },

    size: () => ({ sessions: sessions.size, users: users.size }),
    windowMs,
  };
}

export type RevocationSet = ReturnType<typeof createRevocationSet>;

function parseMessage(text: string): RevocationMessage | undefined {
  try {
    const m = JSON.parse(text) as Partial<RevocationMessage> & Record<string, unknown>;
    if (typeof m.userId !== 'string' || typeof m.at !== 'number') return undefined;
    if (m.kind === 'session' && typeof m.sessionId === 'string') {
      return { kind: 'session', sessionId: m.sessionId, userId: m.userId, at: m.at };
    }
    if (m.kind === 'user' && (m.keep === null || typeof m.keep === 'string')) {
      return { kind: 'user', userId: m.userId, at: m.at, keep: m.keep };
    }
  } catch {
    // Not ours: ignored.
  }
  return undefined;
}

export interface RevocationWatchOptions {
  db: Db;
  /** The service's shared client (its `duplicate()` becomes the subscriber). */
  redis: Redis;
  keyPrefix: string;
  accessTtlSeconds: number;
  logger: Logger;
  /** Full reload from MongoDB this often, in case a message was lost (default 60 s). */
  resyncSeconds?: number;
}

/**
 * The revocation set of one process, kept current. Resolves once loaded from MongoDB, so a
 * service that awaits it before listening refuses every token revoked before it started.
 */
export async function watchRevocations(options: RevocationWatchOptions) {
  const set = createRevocationSet(options.accessTtlSeconds);
  const { db, logger } = options;
  const channel = revocationChannel(options.keyPrefix);
  let closed = false;

  async function load(): Promise<void> {
    const since = new Date(Date.now() - set.windowMs);
    const [sessionDocs, userDocs] = await Promise.all([
      db
        .collection<SessionRevocationRecord>(SESSION_REVOCATIONS)
        .find({ revokedAt: { $gt: since } }, { projection: { _id: 1, userId: 1, revokedAt: 1 } })
        .toArray(),
      db
        .collection<UserRevocationRecord>(USER_REVOCATIONS)
        .find(
          { revokedAt: { $gt: since } },
          { projection: { userId: 1, revokedAt: 1, keepSessionId: 1 } },
        )
        .toArray(),
    ]);
    for (const d of sessionDocs) {
      set.add({ kind: 'session', sessionId: d._id, userId: d.userId, at: d.revokedAt.getTime() });
    }
    for (const d of userDocs) {
      set.add({
        kind: 'user',
        userId: d.userId,
        at: d.revokedAt.getTime(),
        keep: d.keepSessionId ?? null,
      });
    }
    set.prune();
  }

  const subscriber = duplicateRedis(options.redis, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    autoResubscribe: true,
  });
  const warnings = distinctWarnings(logger);
  subscriber.on('error', (err: Error) => {
    warnings.warn(err, 'revocation subscriber: Redis connection error');
  });
  subscriber.on('message', (ch: string, text: string) => {
    if (ch !== channel) return;
    const message = parseMessage(text);
    if (message) set.add(message);
  });
  const resync = () =>
    load().catch((err: unknown) => {
      if (!closed) logger.warn({ err }, 'revocation set: reload from MongoDB failed');
    });
  // Subscribed first, loaded after: a revocation is in MongoDB before it is published, so one
  // published before the subscription took effect is in the load that follows it. Start-up
  // does not wait for Redis (a replica with Redis down still serves, from MongoDB alone).
  const subscribe = () =>
    subscriber.subscribe(channel).then(
      () => resync(),
      (err: Error) => {
        if (!closed) logger.warn({ err: err.message }, 'revocation subscriber: SUBSCRIBE failed');
      },
    );
  let everReady = false;
  subscriber.on('ready', () => {
    // After a reconnect (autoResubscribe renews the subscription) messages may have been
    // missed while the connection was down.
    if (everReady) void resync();
    everReady = true;
    warnings.reset();
  });
  void subscribe();
  try {
    await load();
  } catch (err) {
    closed = true;
    subscriber.disconnect();
    throw err;
  }
  const timer = setInterval(resync, (options.resyncSeconds ?? 60) * 1000);
  timer.unref();

  return {
    isRevoked: set.isRevoked,
    size: set.size,
    /** Reloads from MongoDB now (tests). */
    reload: load,
    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      subscriber.disconnect();
    },
  };
}

export type RevocationWatch = Awaited<ReturnType<typeof watchRevocations>>;
