import { isDeepStrictEqual } from 'node:util';
import {
  type ChangesReply,
  type Entry,
  emptyPullReply,
  type Logger,
  ProblemError,
  type PushReply,
  type PushRequest,
  type SyncHead,
} from '@journal/shared';
import type { Heads } from '../changes/head.js';
import type { ChangeNotifier } from '../changes/notifier.js';
import type { RecentChanges } from '../changes/recent.js';
import type { EntriesQuota } from '../quota/entries-quota.js';
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
  heads: Heads;
  recent: RecentChanges;
  metrics: SyncMetrics;
  logger: Logger;
  /** The entries quotas: a push that would go over them is refused before any insert. */
  quota?: Pick<EntriesQuota, 'reserve'>;
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

/** Rounds a guessed push retries from a newer head before it falls back to MongoDB's reads. */
const GUESS_RETRIES = 20;
/** How long a collided guess waits for the winner's raise before reading MongoDB (ms, total 75). */
const HEAD_WAITS_MS = [0, 5, 20, 50];

interface Planned {
  change: PushRequest['changes'][number];
  doc: VersionDoc;
}

export function createEntriesService(deps: EntriesServiceDeps) {
  const { repository, notifier, metrics, heads, recent } = deps;

  /**
   * Decides each change against `known` heads: identical to the head → accepted at its
   * revision; base not the head's revision → conflict; else to apply. With `optimistic`, a
   * change with base 0 is applied without a head: the `(userId, id, 0)` unique index refuses
   * it if the entry exists (superseded first versions are never purged, see the purger).
   */
  function plan(
    userId: string,
    changes: PushRequest['changes'],
    known: Map<string, VersionDoc>,
    optimistic: boolean,
    context: {
      deviceId: string | null;
      now: Date;
      acceptedAt: Map<string, number>;
      conflictWith: Map<string, VersionDoc | null>;
    },
  ): Planned[] {
    const toApply: Planned[] = [];
    for (const change of changes) {
      const head = known.get(change.id);
      const deleted = change.deleted === true;
      if (!(optimistic && change.baseRevision === 0)) {
        if (head && sameState(head, deleted, change.content)) {
          // Identical to the server's state (e.g. a retry whose reply was lost): no new revision.
          context.acceptedAt.set(change.id, head.revision);
          continue;
        }
        if ((head?.revision ?? 0) !== change.baseRevision) {
          context.conflictWith.set(change.id, head ?? null);
          continue;
        }
      }
      toApply.push({
        change,
        doc: {
          userId,
          id: change.id,
          revision: 0,
          baseRevision: change.baseRevision,
          deleted,
          content: deleted ? null : JSON.stringify(change.content),
          clientUpdatedAt: change.clientUpdatedAt
            ? new Date(change.clientUpdatedAt).toISOString()
            : null,
          updatedAt: context.now,
          deviceId: context.deviceId,
        },
      });
    }
    return toApply;
  }

  /**
   * After a guessed insert collided: a head above `base` (the push that won raises it right
   * after its insert, so it is given a few milliseconds to), or null when there is none within
   * the retries (the collision was something else: the reads decide).
   */
  async function newerHead(userId: string, base: number, rounds: number) {
    if (rounds >= GUESS_RETRIES) return null;
    for (const delayMs of HEAD_WAITS_MS) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const head = await heads.get(userId);
      if (!heads.guessable(head)) return null;
      if (head.revision > base) return head;
    }
    return null;
  }

  /**
   * The user's highest revision read from MongoDB and recorded as the head. Concurrent misses
   * for one user in this process share one query (devices of a user idle together, and their
   * head expires for all of them at once).
   */
  const misses = new Map<string, Promise<SyncHead>>();
  function headFromStore(userId: string, observedAt: number): Promise<SyncHead> {
    let pending = misses.get(userId);
    if (!pending) {
      pending = (async () => {
        const revision = await repository.maxRevision(userId);
        await heads.raise(userId, revision, observedAt);
        return { revision, observedAt };
      })().finally(() => misses.delete(userId));
      misses.set(userId, pending);
    }
    return pending;
  }

  /**
   * Applies a push. With a fresh head in Redis (the usual case), new entries cost ONE command:
   * an ordered insertMany at revisions head+1…; edits add one find of their own heads and one
   * update marking the versions they replace. Without a head (expired, lost, Redis down) one
   * query of the highest revision comes first and sets it. A guess that collides (stale head,
   * concurrent push, existing id) retries from a newer head, then falls back to reading the
   * entries' heads and the highest revision: the unique indexes decide, never the guess. With
   * the head turned off every push reads those two first, as before the head existed.
   */
  async function push(userId: string, body: PushRequest): Promise<PushReply> {
    const startedAt = Date.now();
    let head = await heads.get(userId);
    metrics.guesses.inc({ outcome: head ? 'guessed' : 'no_head' });
    // No head: the one query of the highest revision (shared by this process's concurrent
    // misses) sets it, and the push guesses from it like any other; new entries need no read
    // of their own (the `(userId, id, 0)` index refuses an id that exists).
    if (!head && heads.enabled) head = await headFromStore(userId, startedAt);
    let optimistic = heads.guessable(head, startedAt);
    const context = {
      deviceId: body.deviceId ?? null,
      now: new Date(),
      acceptedAt: new Map<string, number>(),
      conflictWith: new Map<string, VersionDoc | null>(),
    };

    let base: number;
    let known: Map<string, VersionDoc>;
    let maxObservedAt = startedAt;
    if (optimistic && head) {
      base = head.revision;
      const edits = body.changes.filter((c) => c.baseRevision > 0).map((c) => c.id);
      known = await repository.heads(userId, edits);
    } else {
      [known, base] = await Promise.all([
        repository.heads(
          userId,
          body.changes.map((change) => change.id),
        ),
        repository.maxRevision(userId),
      ]);
    }
    let pending = plan(userId, body.changes, known, optimistic, context);

    await deps.hooks?.beforeInsert?.();

    // Revisions are claimed by inserting exactly max+1, max+2, … (unique per user): a
    // revision can only exist once every lower one does, so readers never pass a gap that
    // fills later. A collision means a concurrent push took the number (re-read the max) or
    // changed the entry first (its base is taken: a conflict).
    const lostRace: string[] = [];
    const written: VersionDoc[] = [];
    let writtenObservedAt = startedAt;
    let guessRounds = 0;
    // Quotas: the plan's net change is reserved (or the push refused, nothing written), then
    // settled with what was written (by the quota's scope when the loop fails midway).
    const quotaHold = await deps.quota?.reserve(userId, pending, known, written);
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_INSERT_ROUNDS) {
        throw new ProblemError('upstream_unavailable', 'too much contention; retry the push', {
          status: 503,
          headers: { 'retry-after': '1' },
        });
      }
      const docs = pending.map((p, i) => ({ ...p.doc, revision: base + 1 + i }));
      const insertAt = Date.now();
      const inserted = await repository.insertOrdered(docs);
      if (inserted > 0) {
        written.push(...docs.slice(0, inserted));
        writtenObservedAt = insertAt;
      }
      if (inserted === docs.length) break;
      metrics.insertRetries.inc();
      pending = pending.slice(inserted);
      if (optimistic) {
        // A guessed revision, or a new entry's id, was taken. A newer head (a concurrent push
        // raised it) is tried a few times; then the reads decide, as without a head.
        const fresh = await newerHead(userId, base, guessRounds);
        if (fresh) {
          guessRounds += 1;
          base = fresh.revision;
          continue;
        }
        metrics.guesses.inc({ outcome: 'fell_back' });
        optimistic = false;
        maxObservedAt = Date.now();
        const [again, max] = await Promise.all([
          repository.heads(
            userId,
            pending.map((p) => p.change.id),
          ),
          repository.maxRevision(userId),
        ]);
        pending = plan(
          userId,
          pending.map((p) => p.change),
          again,
          false,
          context,
        );
        base = max;
        continue;
      }
      const collided = docs[inserted] as VersionDoc;
      maxObservedAt = Date.now();
      const [baseTaken, max] = await Promise.all([
        repository.baseTaken(userId, collided.id, collided.baseRevision),
        repository.maxRevision(userId),
      ]);
      if (baseTaken) lostRace.push(collided.id);
      pending = pending.slice(baseTaken ? 1 : 0);
      base = max;
    }

    await quotaHold?.settle();
    await deps.hooks?.afterInsert?.();

    for (const doc of written) context.acceptedAt.set(doc.id, doc.revision);
    await repository.markSuperseded(
      userId,
      written.filter((doc) => doc.baseRevision > 0).map((doc) => doc.baseRevision),
    );
    if (lostRace.length > 0) {
      const current = await repository.heads(userId, lostRace);
      for (const id of lostRace) context.conflictWith.set(id, current.get(id) ?? null);
    }

    const highestWritten = Math.max(0, ...written.map((doc) => doc.revision));
    const highest = Math.max(base, highestWritten);
    // The head is raised only after the versions below it are written (and visible); the
    // versions go to the recent changes in the same round trip (followers read them there).
    if (written.length > 0) {
      await Promise.all([
        recent.append(userId, written.map(toEntry)),
        heads.raise(userId, highestWritten, writtenObservedAt),
      ]);
    } else if (!optimistic) await heads.raise(userId, base, maxObservedAt);
    if (written.length > 0) await notifier.publish(userId, highest);
    metrics.pushes.inc();
    metrics.changesApplied.inc(written.length);
    metrics.conflicts.inc(context.conflictWith.size);

    const accepted: PushReply['accepted'] = [];
    const conflicts: PushReply['conflicts'] = [];
    for (const change of body.changes) {
      const revision = context.acceptedAt.get(change.id);
      if (revision !== undefined) accepted.push({ id: change.id, revision });
      else {
        const current = context.conflictWith.get(change.id);
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
   * One page of the feed. A cursor at or above the user's head answers at once from Redis:
   * nothing to read, no MongoDB command. Without a head, one query reads the user's highest
   * revision and sets it. A cursor a little below the head (a device following live) reads the
   * recent changes in Redis when they hold every revision it needs. Otherwise a single indexed
   * query (plus the purge horizon when `since > 0`, read AFTER the page so a tombstone purged
   * meanwhile cannot slip through).
   */
  async function pull(userId: string, since: number, limit: number): Promise<ChangesReply> {
    if (heads.enabled) {
      const observedAt = Date.now();
      let head = await heads.get(userId);
      metrics.headReads.inc({ outcome: head ? 'hit' : 'miss' });
      head ??= await headFromStore(userId, observedAt);
      if (since >= head.revision) return emptyPullReply(since);
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
