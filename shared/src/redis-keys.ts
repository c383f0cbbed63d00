/**
 * Every Redis key and channel the services use, in one place (docs/architecture.md, "Redis: the
 * contracts `shared/` defines"): what each holds, who writes it and how long it lives is
 * documented there, row by row. Keys are relative to the client's `keyPrefix`
 * (`REDIS_KEY_PREFIX`, added by ioredis); channels are not prefixed by ioredis, so their
 * builders take the prefix. A key that a script or multi-key command uses together with another
 * shares the user's hash tag `{<userId>}` (one Cluster slot).
 */

/** A live session (auth writes it at login and refresh; the gateway checks it). */
export function sessionKey(sessionId: string): string {
  return `session:${sessionId}`;
}

/** The highest revision sync has seen for a user, with when and in which store generation. */
export function syncHeadKey(userId: string): string {
  return `sync:head:${userId}`;
}

/** The user's most recent changes, a sorted set by revision (sync's page cache). */
export function syncRecentKey(userId: string): string {
  return `sync:recent:${userId}`;
}

/** The user's push idempotency records: the replies hash and their order (one slot). */
export function idempotencyKeys(userId: string): [replies: string, order: string] {
  return [`sync:idem:{${userId}}:replies`, `sync:idem:{${userId}}:order`];
}

/** A quota counter (hash `count`, `bytes`) of one kind, e.g. `entries`, `attachments`. */
export function quotaKey(userId: string, kind: string): string {
  return `quota:{${userId}}:${kind}`;
}

/** One of auth's fixed-window counters (`login-username`, `login-ip`, `register-ip`, …). */
export function rateLimitKey(limit: string, subject: string): string {
  return `ratelimit:${limit}:${subject}`;
}

/** Auth's failed-login counter of a (lower-cased) username. */
export function loginNameRateLimitKey(usernameLower: string): string {
  return rateLimitKey('login-username', usernameLower);
}

/**
 * The gateway's per-user request counter: @fastify/rate-limit with `nameSpace: 'ratelimit:'` and
 * the key `user:<userId>` (services/gateway/src/app.ts builds its key with `gatewayRateLimitKey`).
 */
export const GATEWAY_RATE_LIMIT_NAMESPACE = 'ratelimit:';
export function gatewayRateLimitKey(kind: 'user' | 'ip', subject: string): string {
  return `${kind}:${subject}`;
}
export function userRateLimitKey(userId: string): string {
  return `${GATEWAY_RATE_LIMIT_NAMESPACE}${gatewayRateLimitKey('user', userId)}`;
}

/** Session and user revocations, announced after they are stored in MongoDB. */
export const revocationChannel = (keyPrefix: string) => `${keyPrefix}revocations`;

/** Account deletions, announced after the record is stored in MongoDB. */
export function deletionChannel(keyPrefix: string): string {
  return `${keyPrefix}account-deletions`;
}

/** A user's sync wake-ups: `<prefix>sync:user:<userId>`, one PSUBSCRIBE per sync process. */
export function syncUserChannelPrefix(keyPrefix: string): string {
  return `${keyPrefix}sync:user:`;
}
