import { ProblemError, type PushRequest, type SyncHead } from '@journal/shared';
import { entryJson } from './json.js';
import { type Change, type HeadInfo, plan, readHeads } from './plan.js';
import type { PushOutcome } from './push-reply.js';
import type { VersionDoc } from './repository.js';
import type { EntriesServiceDeps } from './service.js';

/** A push gives up (503, retry) after this many collisions with concurrent pushes. */
const MAX_INSERT_ROUNDS = 200;
/** Rounds a guessed push retries from a newer head before it falls back to MongoDB's reads. */
const GUESS_RETRIES = 20;
/** How long a collided guess waits for the winner's raise before reading MongoDB (ms, total 75). */
const HEAD_WAITS_MS = [0, 5, 20, 50];

/** The push of `createEntriesService`; `headFromStore` is shared with the pulls. */
export function createPush(
  deps: EntriesServiceDeps,
  headFromStore: (userId: string, observedAt: number) => Promise<SyncHead>,
) {
  const { repository, notifier, metrics, heads, recent } = deps;

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
   * Applies a push. With a fresh head in Redis (the usual case), new entries cost ONE command:
   * an ordered insertMany at revisions head+1…; edits add one find of their own heads and one
   * update marking the versions they replace. Without a head (expired, lost, Redis down) one
   * query of the highest revision comes first and sets it. A guess that collides (stale head,
   * concurrent push, existing id) retries from a newer head, then falls back to reading the
   * entries' heads and the highest revision: the unique indexes decide, never the guess. With
   * the head turned off every push reads those two first, as before the head existed.
   */
  return async function push(userId: string, body: PushRequest): Promise<PushOutcome> {
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
      known = await readHeads(repository, userId, edits, unmarked);
    } else {
      [known, base] = await Promise.all([
        readHeads(repository, userId, body.changes, unmarked),
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
    // settled with what was written, however the loop ends.
    const quotaHold = await deps.quota?.reserve(userId, pending, known, written);
    try {
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
              repository,
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
    } finally {
      await quotaHold?.settle();
    }

    await deps.hooks?.afterInsert?.();

    for (const doc of written) context.acceptedAt.set(doc.id, doc.revision);
    await repository.markSuperseded(userId, [
      ...written.filter((doc) => doc.baseRevision > 0).map((doc) => doc.baseRevision),
      ...unmarked,
    ]);
    if (lostRace.length > 0) {
      const current = await readHeads(repository, userId, lostRace);
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
  };
}
