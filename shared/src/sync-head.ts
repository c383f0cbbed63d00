/**
 * The per-user head revision of the sync feed in Redis (docs/sync.md, "The head in Redis"):
 * `<prefix>sync:head:<userId>` = `"<revision>:<observedAt ms>:<generation>"`, written only by
 * the sync service; the gateway reads it too, to answer an idle pull without a hop. The
 * generation is the store's (docs/sync.md, "Restores and the store's generation"): a head of
 * another generation than the reader's describes another revision sequence. The older
 * two-part form `"<revision>:<observedAt>"` reads as a head of an unknown generation.
 */
export interface SyncHead {
  revision: number;
  observedAt: number;
  /** The store generation the head was observed in; null when unknown (the two-part form). */
  generation: string | null;
}

export { syncHeadKey } from './redis-keys.js';

/** The value, or null for a missing or malformed one (read as "no head": ask the store). */
export function parseSyncHead(value: string | null | undefined): SyncHead | null {
  if (value === null || value === undefined) return null;
  const parts = value.split(':');
  if (parts.length !== 2 && parts.length !== 3) return null;
  const [rev = '', observed = '', generation] = parts;
  const revision = Number(rev);
  const observedAt = Number(observed);
  if (rev === '' || observed === '' || !Number.isSafeInteger(revision)) return null;
  if (!Number.isFinite(observedAt)) return null;
  if (generation === '') return null;
  return { revision, observedAt, generation: generation ?? null };
}

/** The value to store for a head (the form `parseSyncHead` reads). */
export function formatSyncHead(head: SyncHead): string {
  const base = `${head.revision}:${head.observedAt}`;
  return head.generation === null ? base : `${base}:${head.generation}`;
}

/**
 * The reply to a pull whose cursor is at or above the head: nothing new, cursor unchanged, and
 * the head's generation when it is known.
 */
export function emptyPullReply(since: number, generation: string | null = null) {
  return {
    changes: [] as never[],
    revision: since,
    hasMore: false,
    ...(generation === null ? {} : { generation }),
  };
}
