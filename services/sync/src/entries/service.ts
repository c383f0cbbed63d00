import { isDeepStrictEqual } from 'node:util';
import { type Logger, ProblemError, type PushRequest, type SyncHead } from '@journal/shared';
import pLimit from 'p-limit';
import type { Heads } from '../changes/head.js';
import type { ChangeNotifier } from '../changes/notifier.js';
import type { RecentChanges } from '../changes/recent.js';
import type { EntriesQuota } from '../quota/entries-quota.js';
import { type Holes, isDense } from './holes.js';
import { entryJson, type PageText } from './json.js';
import type { SyncMetrics } from './metrics.js';
import type { PushOutcome } from './push-reply.js';
import type { EntriesRepository, VersionDoc } from './repository.js';

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
  /** Finds and seals holes in the revision sequence (holes.ts). */
  holes: Holes;
  notifier: ChangeNotifier;
  heads: Heads;
  recent: RecentChanges;
  metrics: SyncMetrics;
  logger: Logger;
  /** The entries quotas: a push that would go over them is refused before any insert. */
  quota?: Pick<EntriesQuota, 'reserve'>;
  /** Store page reads run at once in this process; more wait their turn (memory bound). */
  maxConcurrentPageReads?: number;
  hooks?: PushHooks;
}

/**
 * What a push needs of an entry's current version: its revision, whether it is a tombstone,
 * its content's size, and whether the change pushed for it is identical to it (decided while
 * the version streams by, so its content is not kept).
 */
export interface HeadInfo {
  revision: number;
  deleted: boolean;
  size: number;
  same: boolean;
  /** The version itself, kept when the change conflicts with it (within the reply's budget). */
  doc?: VersionDoc;
}

/**
 * Content of conflicting versions a push keeps for its reply; beyond it the reply reads them
 * again a few at a time while it streams (push-reply.ts).
 */
const CONFLICT_CONTENT_BUDGET = 4 * 1024 * 1024;

type Change = PushRequest['changes'][number];

function sameState(head: VersionDoc, change: Change): boolean {
  const deleted = change.deleted === true;
  if (head.deleted !== deleted) return false;
  if (deleted) return true;
  return head.content !== null && isDeepStrictEqual(JSON.parse(head.content), change.content);
}

/** The 410 of a pull whose `generation` is not the store's. */
const RESTORED_DETAIL =
  "the server's data was restored from a backup since this cursor was issued: pull again from " +
  'since=0 without generation and replace the local state';

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
  // Each store page read holds up to a page's content plus one undecoded batch; a bounded
  // number at once keeps a burst of first syncs of large journals inside the pod's memory.
  const pageReads = pLimit(deps.maxConcurrentPageReads ?? DEFAULT_CONCURRENT_PAGE_READS);
  const { holes } = deps;

  /**
   * Decides each change against `known` heads: identical to the head → accepted at its
   * revision; base not the head's revision → conflict; else to apply. With `optimistic`, a
   * change with base 0 is applied without a head: the `(userId, id, 0)` unique index refuses
   * it if the entry exists (superseded first versions are never purged, see the purger).
   */
  function plan(
    userId: string,
    changes: PushRequest['changes'],
    known: Map<string, HeadInfo>,
    optimistic: boolean,
    context: {
      deviceId: string | null;
      now: Date;
      acceptedAt: Map<string, number>;
      conflictWith: Map<string, HeadInfo | null>;
    },
  ): Planned[] {
    const toApply: Planned[] = [];
    for (const change of changes) {
      const head = known.get(change.id);
      const deleted = change.deleted === true;
      if (!(optimistic && change.baseRevision === 0)) {
        if (head?.same) {
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
   * The current versions of the entries `changes` name, as `HeadInfo`: streamed, so only the
   * facts a plan needs are kept, never 500 contents of up to 1 MiB. Two current versions of
   * one entry mean a push died between writing the newer and marking the older: the older's
   * revision goes into `unmarked`, for this push to mark (a retry accepted as identical would
   * otherwise leave it unmarked for good).
   */
  async function readHeads(
    userId: string,
    changes: Change[],
    unmarked?: Set<number>,
  ): Promise<Map<string, HeadInfo>> {
    const heads = new Map<string, HeadInfo>();
    if (changes.length === 0) return heads;
    const byId = new Map(changes.map((change) => [change.id, change]));
    let kept = 0;
    for await (const doc of repository.currentVersions(userId, [...byId.keys()])) {
      const known = heads.get(doc.id);
      if (known) unmarked?.add(Math.min(known.revision, doc.revision));
      if (known && known.revision > doc.revision) continue;
      const change = byId.get(doc.id) as Change;
      const size = doc.content?.length ?? 0;
      const same = sameState(doc, change);
      const keep =
        !same && doc.revision !== change.baseRevision && kept + size <= CONFLICT_CONTENT_BUDGET;
      if (keep) kept += size;
      heads.set(doc.id, {
        revision: doc.revision,
        deleted: doc.deleted,
        size,
        same,
        ...(keep ? { doc } : {}),
      });
    }
    return heads;
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
        return { revision, observedAt, generation: heads.generation() };
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
  async function push(userId: string, body: PushRequest): Promise<PushOutcome> {
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
      conflictWith: new Map<string, HeadInfo | null>(),
    };
    const unmarked = new Set<number>();

    let base: number;
    let known: Map<string, HeadInfo>;
    let maxObservedAt = startedAt;
    if (optimistic && head) {
      base = head.revision;
      const edits = body.changes.filter((c) => c.baseRevision > 0);
      known = await readHeads(userId, edits, unmarked);
    } else {
      [known, base] = await Promise.all([
        readHeads(userId, body.changes, unmarked),
        repository.maxRevision(userId),
      ]);
    }
    let pending = plan(userId, body.changes, known, optimistic, context);

    await deps.hooks?.beforeInsert?.();

    // Revisions are claimed by inserting exactly max+1, max+2, … (unique per user): a
    // revision can only exist once every lower one does, so readers never pass a gap that
    // fills later. A collision means a concurrent push took the number (re-read the max) or
    // changed the entry first (its base is taken: a conflict).
    const lostRace: Change[] = [];
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
          readHeads(
            userId,
            pending.map((p) => p.change),
            unmarked,
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
      if (baseTaken) lostRace.push(pending[0]?.change as Change);
      pending = pending.slice(baseTaken ? 1 : 0);
      base = max;
    }

    await quotaHold?.settle();
    await deps.hooks?.afterInsert?.();

    for (const doc of written) context.acceptedAt.set(doc.id, doc.revision);
    await repository.markSuperseded(userId, [
      ...written.filter((doc) => doc.baseRevision > 0).map((doc) => doc.baseRevision),
      ...unmarked,
    ]);
    if (lostRace.length > 0) {
      const current = await readHeads(userId, lostRace);
      for (const { id } of lostRace) context.conflictWith.set(id, current.get(id) ?? null);
    }

    const highestWritten = Math.max(0, ...written.map((doc) => doc.revision));
    const highest = Math.max(base, highestWritten);
    // The head is raised only after the versions below it are written (and visible); the
    // versions go to the recent changes in the same round trip (followers read them there).
    if (written.length > 0) {
      await Promise.all([
        recent.append(
          userId,
          written.map((doc) => ({ revision: doc.revision, json: entryJson(doc) })),
        ),
        heads.raise(userId, highestWritten, writtenObservedAt),
      ]);
    } else if (!optimistic) await heads.raise(userId, base, maxObservedAt);
    if (written.length > 0) await notifier.publish(userId, highest);
    metrics.pushes.inc();
    metrics.changesApplied.inc(written.length);
    metrics.conflicts.inc(context.conflictWith.size);

    const outcome: PushOutcome = { accepted: [], conflicts: [], revision: highest };
    for (const change of body.changes) {
      const revision = context.acceptedAt.get(change.id);
      if (revision !== undefined) outcome.accepted.push({ id: change.id, revision });
      else {
        const head = context.conflictWith.get(change.id) ?? null;
        outcome.conflicts.push({
          id: change.id,
          currentRevision: head?.revision ?? null,
          ...(head?.doc ? { current: head.doc } : {}),
        });
      }
    }
    return outcome;
  }

  /**
   * One page of the feed. A cursor at or above the user's head answers at once from Redis:
   * nothing to read, no MongoDB command. Without a head, one query reads the user's highest
   * revision and sets it. A cursor a little below the head (a device following live) reads the
   * recent changes in Redis when they hold every revision it needs. Otherwise a single indexed
   * query (plus the purge horizon when `since > 0`, read AFTER the page so a tombstone purged
   * meanwhile cannot slip through).
   */
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

  return { push, pull, changes };
}

export type EntriesService = ReturnType<typeof createEntriesService>;
