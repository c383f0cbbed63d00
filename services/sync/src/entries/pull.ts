import { ProblemError, type SyncHead } from '@journal/shared';
import pLimit from 'p-limit';
import { isDense } from './holes.js';
import { entryJson, type PageText } from './json.js';
import type { VersionDoc } from './repository.js';
import type { EntriesServiceDeps } from './service.js';

/**
 * A page ends early (hasMore) once its entries' content passes this many bytes; with the
 * page reads bounded per process (`maxConcurrentPageReads`), this bounds a pull's memory
 * (docs/scaling.md, "Memory of a sync process").
 */
export const MAX_PAGE_CONTENT_BYTES = 4 * 1024 * 1024;

/** Store page reads at once per process by default (SYNC_MAX_CONCURRENT_PAGE_READS). */
export const DEFAULT_CONCURRENT_PAGE_READS = 4;

/** A page read again this many times when versions keep taking the holes it meets (then 503). */
const SEAL_ROUNDS = 5;

/** The 410 of a pull whose `generation` is not the store's. */
const RESTORED_DETAIL =
  "the server's data was restored from a backup since this cursor was issued: pull again from " +
  'since=0 without generation and replace the local state';

/** The pulls of `createEntriesService`; `headFromStore` is shared with the pushes. */
export function createPull(
  deps: EntriesServiceDeps,
  headFromStore: (userId: string, observedAt: number) => Promise<SyncHead>,
) {
  const { repository, notifier, metrics, heads, recent, holes } = deps;
  // Each store page read holds up to a page's content plus one undecoded batch; a bounded
  // number at once keeps a burst of first syncs of large journals inside the pod's memory.
  const pageReads = pLimit(deps.maxConcurrentPageReads ?? DEFAULT_CONCURRENT_PAGE_READS);

  /**
   * A page from the store that never moves a cursor over a hole that can still fill: when the
   * page skips revisions, the ones that hold no version at all and lie above the purge's holes
   * horizon are sealed first (holes.ts). If a version took one of them first, the page is read
   * again (it serves that version). docs/sync.md, "The guarantee".
   */
  async function sealedPage(userId: string, since: number, limit: number) {
    for (let round = 0; ; round++) {
      const read = await pageReads(() =>
        repository.page(userId, since, limit, MAX_PAGE_CONTENT_BYTES),
      );
      const last = read.docs.at(-1)?.revision ?? since;
      if (isDense(read.docs, since)) return read;
      const missing = await holes.missing(userId, since, last);
      if (missing.length === 0) return read;
      // Holes the purge made (tombstones' or replaced versions') can never fill.
      const horizon = await repository.purgedThrough(userId, 'all');
      const open = missing.filter((revision) => revision > horizon);
      if (await holes.seal(userId, open)) {
        if (open.length > 0) metrics.holesSealed.inc(open.length);
        return read;
      }
      if (round >= SEAL_ROUNDS) {
        throw new ProblemError('upstream_unavailable', 'the feed is being written; retry', {
          status: 503,
          headers: { 'retry-after': '1' },
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** round));
    }
  }

  /**
   * One page of the feed. A cursor at or above the user's head answers at once from Redis:
   * nothing to read, no MongoDB command. Without a head, one query reads the user's highest
   * revision and sets it. A cursor a little below the head (a device following live) reads the
   * recent changes in Redis when they hold every revision it needs. Otherwise a single indexed
   * query (plus the purge horizon when `since > 0`, read AFTER the page so a tombstone purged
   * meanwhile cannot slip through).
   */
  async function pull(userId: string, since: number, limit: number): Promise<PageText> {
    if (heads.enabled) {
      const observedAt = Date.now();
      let head = await heads.get(userId);
      metrics.headReads.inc({ outcome: head ? 'hit' : 'miss' });
      head ??= await headFromStore(userId, observedAt);
      if (since >= head.revision) return { changes: [], revision: since, hasMore: false };
      if (recent.enabled) {
        const cached = await recent.page(userId, since, head.revision, {
          limit,
          maxContentBytes: MAX_PAGE_CONTENT_BYTES,
        });
        metrics.recentReads.inc({ outcome: cached ? 'hit' : 'miss' });
        if (cached) return cached;
      }
    }
    const observedAt = Date.now();
    const { docs: page, hasMore } = await sealedPage(userId, since, limit);
    if (since > 0) {
      const purgedThrough = await repository.purgedThrough(userId);
      if (since < purgedThrough) {
        throw new ProblemError(
          'resync_required',
          'the cursor is older than the tombstone retention: pull again from since=0 and ' +
            'replace the local state',
        );
      }
    }
    // A version superseded in this very page (its newer version was written but not yet
    // marked) is dropped: the newer one follows in the same page.
    const last = new Map<string, number>();
    for (const doc of page) last.set(doc.id, doc.revision);
    const changes = page.filter((doc) => last.get(doc.id) === doc.revision).map(entryJson);
    if (changes.length < page.length) {
      // Left unmarked by a push that died before marking (or is marking right now): idempotent.
      const replaced = page.filter((doc) => last.get(doc.id) !== doc.revision);
      await repository.markSuperseded(
        userId,
        replaced.map((doc) => doc.revision),
      );
    }
    const revision = page.length > 0 ? (page[page.length - 1] as VersionDoc).revision : since;
    // The last page ends at the user's highest revision (never superseded, never purged).
    if (!hasMore && page.length > 0) await heads.raise(userId, revision, observedAt);
    return { changes, revision, hasMore };
  }

  /**
   * A pull that, with `waitSeconds > 0` and nothing new, holds until a push for the user wakes
   * it (any replica), the wait ends, the client leaves or the process shuts down. The waiter is
   * registered before the first look, so a push landing in between is not missed; each look
   * at the head costs no MongoDB command, so an unwoken wait costs none; only a wake-up that
   * finds the head above the cursor queries. A wake-up lost with Redis or with a pushing
   * process that died costs one wait's latency, never a change.
   */
  async function changes(
    userId: string,
    query: { since: number; limit: number; wait: number; generation?: string | undefined },
    signal?: AbortSignal,
  ): Promise<PageText> {
    // A cursor of another store generation (a backup was restored since): resync
    // (store/generation.ts). Taken before the read, so a page is never labelled newer than it is.
    const generation = heads.generation();
    if (query.generation !== undefined && query.generation !== generation) {
      throw new ProblemError('resync_required', RESTORED_DETAIL);
    }
    return { ...(await follow(userId, query, signal)), generation };
  }

  async function follow(
    userId: string,
    query: { since: number; limit: number; wait: number },
    signal?: AbortSignal,
  ): Promise<PageText> {
    if (query.wait === 0) return pull(userId, query.since, query.limit);
    const deadline = Date.now() + query.wait * 1000;
    const waiter = notifier.register(userId, signal);
    try {
      let reply = await pull(userId, query.since, query.limit);
      while (reply.changes.length === 0 && !reply.hasMore && Date.now() < deadline) {
        const reason = await waiter.next(deadline);
        if (reason !== 'notified') return reply;
        reply = await pull(userId, query.since, query.limit);
      }
      return reply;
    } finally {
      waiter.dispose();
    }
  }

  return { pull, changes };
}
