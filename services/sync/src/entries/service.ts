import { isDeepStrictEqual } from 'node:util';
import {
  type ChangesReply,
  type Entry,
  type Logger,
  ProblemError,
  type PushReply,
  type PushRequest,
} from '@journal/shared';
import type { ChangeNotifier } from '../changes/notifier.js';
import type { SyncMetrics } from './metrics.js';
import type { EntriesRepository, VersionDoc } from './repository.js';

/** A page ends early (hasMore) once its entries' content passes this many bytes. */
export const MAX_PAGE_CONTENT_BYTES = 8 * 1024 * 1024;

/** A push gives up (503, retry) after this many collisions with concurrent pushes. */
const MAX_INSERT_ROUNDS = 200;

/** Fault-injection points for tests (a stalled or dying writer); no-ops in production. */
export interface PushHooks {
  /** After the plan is made and the revision base read, before anything is written. */
  beforeInsert?: () => Promise<void>;
  /** After the versions are written, before superseded versions are marked and readers woken. */
  afterInsert?: () => Promise<void>;
}

export interface EntriesServiceDeps {
  repository: EntriesRepository;
  notifier: ChangeNotifier;
  metrics: SyncMetrics;
  logger: Logger;
  hooks?: PushHooks;
}

export function toEntry(doc: VersionDoc): Entry {
  return {
    id: doc.id,
    revision: doc.revision,
    deleted: doc.deleted,
    content: doc.content === null ? null : (JSON.parse(doc.content) as Record<string, unknown>),
    clientUpdatedAt: doc.clientUpdatedAt ?? null,
    updatedAt: doc.updatedAt.toISOString(),
    deviceId: doc.deviceId ?? null,
  };
}

function sameState(head: VersionDoc, deleted: boolean, content: unknown): boolean {
  if (head.deleted !== deleted) return false;
  if (deleted) return true;
  return head.content !== null && isDeepStrictEqual(JSON.parse(head.content), content);
}

export function createEntriesService(deps: EntriesServiceDeps) {
  const { repository, notifier, metrics } = deps;

  /**
   * Applies a push. Round trips, whatever the number of changes: heads + max revision (one
   * find each, in parallel), one ordered insertMany, one bulk update marking superseded
   * versions; plus two finds per collision with a concurrent push, and one find for the
   * current state of changes that lost such a race.
   */
  async function push(userId: string, body: PushRequest): Promise<PushReply> {
    const ids = body.changes.map((change) => change.id);
    const [heads, maxRevision] = await Promise.all([
      repository.heads(userId, ids),
      repository.maxRevision(userId),
    ]);
    const now = new Date();
    const acceptedAt = new Map<string, number>();
    const conflictWith = new Map<string, VersionDoc | null>();
    const toApply: VersionDoc[] = [];
    for (const change of body.changes) {
      const head = heads.get(change.id);
      const deleted = change.deleted === true;
      if (head && sameState(head, deleted, change.content)) {
        // Identical to the server's state (e.g. a retry whose reply was lost): no new revision.
        acceptedAt.set(change.id, head.revision);
      } else if ((head?.revision ?? 0) !== change.baseRevision) {
        conflictWith.set(change.id, head ?? null);
      } else {
        toApply.push({
          userId,
          id: change.id,
          revision: 0,
          baseRevision: change.baseRevision,
          deleted,
          content: deleted ? null : JSON.stringify(change.content),
          clientUpdatedAt: change.clientUpdatedAt
            ? new Date(change.clientUpdatedAt).toISOString()
            : null,
          updatedAt: now,
          deviceId: body.deviceId ?? null,
        });
      }
    }

    await deps.hooks?.beforeInsert?.();

    // Revisions are claimed by inserting exactly max+1, max+2, … (unique per user): a
    // revision can only exist once every lower one does, so readers never pass a gap that
    // fills later. A collision means a concurrent push took the number (re-read the max) or
    // changed the entry first (its base is taken: a conflict).
    const lostRace: string[] = [];
    const written: VersionDoc[] = [];
    let pending = toApply;
    let base = maxRevision;
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_INSERT_ROUNDS) {
        throw new ProblemError('upstream_unavailable', 'too much contention; retry the push', {
          status: 503,
          headers: { 'retry-after': '1' },
        });
      }
      const docs = pending.map((doc, i) => ({ ...doc, revision: base + 1 + i }));
      const inserted = await repository.insertOrdered(docs);
      written.push(...docs.slice(0, inserted));
      if (inserted === docs.length) break;
      metrics.insertRetries.inc();
      const collided = docs[inserted] as VersionDoc;
      const [baseTaken, max] = await Promise.all([
        repository.baseTaken(userId, collided.id, collided.baseRevision),
        repository.maxRevision(userId),
      ]);
      if (baseTaken) lostRace.push(collided.id);
      pending = pending.slice(baseTaken ? inserted + 1 : inserted);
      base = max;
    }

    await deps.hooks?.afterInsert?.();

    for (const doc of written) acceptedAt.set(doc.id, doc.revision);
    await repository.markSuperseded(
      userId,
      written.filter((doc) => doc.baseRevision > 0).map((doc) => doc.baseRevision),
    );
    if (lostRace.length > 0) {
      const current = await repository.heads(userId, lostRace);
      for (const id of lostRace) conflictWith.set(id, current.get(id) ?? null);
    }

    const highest = Math.max(base, maxRevision, ...written.map((doc) => doc.revision));
    if (written.length > 0) await notifier.publish(userId, highest);
    metrics.pushes.inc();
    metrics.changesApplied.inc(written.length);
    metrics.conflicts.inc(conflictWith.size);

    const accepted: PushReply['accepted'] = [];
    const conflicts: PushReply['conflicts'] = [];
    for (const change of body.changes) {
      const revision = acceptedAt.get(change.id);
      if (revision !== undefined) accepted.push({ id: change.id, revision });
      else {
        const current = conflictWith.get(change.id);
        conflicts.push({
          id: change.id,
          reason: 'revision_mismatch',
          current: current ? toEntry(current) : null,
        });
      }
    }
    return { accepted, conflicts, revision: highest };
  }

  /**
   * One page of the feed: a single indexed query (plus the purge horizon when `since > 0`,
   * read AFTER the page so a tombstone purged meanwhile cannot slip through unnoticed).
   */
  async function pull(userId: string, since: number, limit: number): Promise<ChangesReply> {
    const docs = await repository.page(userId, since, limit);
    let hasMore = docs.length > limit;
    let page = docs.slice(0, limit);
    // Large entries: end the page early rather than build a reply of up to 1000 MiB.
    let bytes = 0;
    const cut = page.findIndex((doc, i) => {
      bytes += doc.content?.length ?? 0;
      return i > 0 && bytes > MAX_PAGE_CONTENT_BYTES;
    });
    if (cut > 0) {
      page = page.slice(0, cut);
      hasMore = true;
    }
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
    const changes = page.filter((doc) => last.get(doc.id) === doc.revision).map(toEntry);
    const revision = page.length > 0 ? (page[page.length - 1] as VersionDoc).revision : since;
    return { changes, revision, hasMore };
  }

  /**
   * A pull that, with `waitSeconds > 0` and nothing new, holds until a push for the user wakes
   * it (any replica), the wait ends, the client leaves or the process shuts down. Only a wake-up
   * queries again: the waiter is registered before the first query, so a push landing in
   * between is not missed, and a wait that ends unwoken answers the empty page it has (the
   * client's next pull, from the same cursor, queries anyway). That halves the queries of an
   * idle device. A wake-up lost with Redis or with a pushing process that died costs one
   * wait's latency, never a change.
   */
  async function changes(
    userId: string,
    query: { since: number; limit: number; wait: number },
    signal?: AbortSignal,
  ): Promise<ChangesReply> {
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

  return { push, pull, changes };
}

export type EntriesService = ReturnType<typeof createEntriesService>;
