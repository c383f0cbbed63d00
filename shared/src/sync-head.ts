/**
 * The per-user head revision of the sync feed in Redis (docs/sync.md, "The head in Redis"):
 * `<prefix>sync:head:<userId>` = `"<revision>:<observedAt ms>"`, written only by the sync
 * service; the gateway reads it too, to answer an idle pull without a hop.
 */
export interface SyncHead {
  revision: number;
  observedAt: number;
}

/** The key, relative to the client's REDIS_KEY_PREFIX. */
export function syncHeadKey(userId: string): string {
  return `sync:head:${userId}`;
}

/** The value, or null for a missing or malformed one (read as "no head": ask the store). */
export function parseSyncHead(value: string | null | undefined): SyncHead | null {
  if (value === null || value === undefined) return null;
  const sep = value.indexOf(':');
  const revision = Number(value.slice(0, sep));
  const observedAt = Number(value.slice(sep + 1));
  if (sep < 1 || !Number.isSafeInteger(revision) || !Number.isFinite(observedAt)) return null;
  return { revision, observedAt };
}

/** The reply to a pull whose cursor is at or above the head: nothing new, cursor unchanged. */
export function emptyPullReply(since: number) {
  return { changes: [] as never[], revision: since, hasMore: false };
}
