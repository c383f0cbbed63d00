import type { Redis } from './redis.js';

/**
 * The live state of a session (one device's login) in Redis. The auth service writes it with
 * the access token's lifetime and deletes it on logout, refresh-token reuse and password change;
 * the gateway reads it on every authenticated request, so revocation takes effect at once.
 *
 * Key: `<REDIS_KEY_PREFIX>session:<sid>` (the prefix comes from the client's `keyPrefix`).
 * Value: JSON `LiveSession`.
 */
export interface LiveSession {
  userId: string;
  deviceName?: string;
}

import { sessionKey } from './redis-keys.js';

export { sessionKey };

/** True when the session exists and belongs to `userId`. Throws when Redis is unreachable. */
export async function isSessionLive(
  redis: Redis,
  sessionId: string,
  userId: string,
): Promise<boolean> {
  const raw = await redis.get(sessionKey(sessionId));
  if (!raw) return false;
  try {
    return (JSON.parse(raw) as LiveSession).userId === userId;
  } catch {
    return false;
  }
}
