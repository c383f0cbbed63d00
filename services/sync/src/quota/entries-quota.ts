import {
  createQuota,
  type Logger,
  ProblemError,
  type QuotaAmounts,
  type QuotaLimits,
  type QuotaReading,
  type QuotaReservation,
  type Redis,
} from '@journal/shared';
import type { Db } from 'mongodb';
import type { VersionDoc } from '../entries/repository.js';

/**
 * The entries quotas (docs/scaling.md, "Quotas"): `entries` counts the user's current entries
 * that are not deleted, `entryBytes` the UTF-8 bytes of their content's JSON. A push reserves
 * the net change its plan would make before inserting anything, and settles with what it wrote.
 */

const NO_CHANGE: QuotaAmounts = { count: 0, bytes: 0 };

/** The part of a version (or of a push's head of an entry) the quota looks at. */
export interface Sized {
  deleted: boolean;
  content?: string | null;
  size?: number | undefined;
}

/** An entry's current version as a push knows it (a whole version, or what a push keeps of it). */
export type KnownHead = Sized & { revision: number };

/**
 * Bytes a version counts for: the length of its content's JSON text (what `size` stores; read
 * from the content for versions written before `size` existed). A tombstone counts 0.
 */
export function versionBytes(doc: Sized): number {
  if (doc.deleted) return 0;
  if (typeof doc.size === 'number') return doc.size;
  return doc.content?.length ?? 0;
}

/** The `size` stored with a version at insert (its content's JSON length; 0 for a tombstone). */
export function sizeOfContent(content: string | null): number {
  return content?.length ?? 0;
}

/** What one version adds to usage (a tombstone adds nothing). */
function amountOf(doc: Sized | undefined): QuotaAmounts {
  if (!doc || doc.deleted) return { count: 0, bytes: 0 };
  return { count: 1, bytes: versionBytes(doc) };
}

/**
 * The change of usage when `doc` replaces `replaced` (undefined: the entry did not exist, or
 * only as a purged tombstone): a create is +1/+size, a delete -1/-old size, an edit its growth.
 */
export function changeDelta(doc: Sized, replaced: Sized | undefined): QuotaAmounts {
  const now = amountOf(doc);
  const before = amountOf(replaced);
  return { count: now.count - before.count, bytes: now.bytes - before.bytes };
}

export function sumDeltas(deltas: Iterable<QuotaAmounts>): QuotaAmounts {
  const total = { count: 0, bytes: 0 };
  for (const d of deltas) {
    total.count += d.count;
    total.bytes += d.bytes;
  }
  return total;
}

/** The version a planned or written doc replaces: its base revision's version, if known. */
function replacedOf(doc: VersionDoc, known: Map<string, KnownHead>): KnownHead | undefined {
  if (doc.baseRevision === 0) return undefined;
  const head = known.get(doc.id);
  return head && head.revision === doc.baseRevision ? head : undefined;
}

/** Current versions of a user: id, revision, deleted, size (content only for docs without). */
interface CountedDoc {
  id: string;
  revision: number;
  deleted: boolean;
  size?: number;
}

/** A push's reservation: settled once, with what the push wrote. */
export interface PushHold {
  settle(): Promise<void>;
}

export interface EntriesQuotaOptions {
  db: Db;
  redis: Redis;
  limits: { entries: number; entryBytes: number };
  logger?: Logger;
}

export function createEntriesQuota(options: EntriesQuotaOptions) {
  const versions = options.db.collection<VersionDoc>('entry_versions');
  const limits: QuotaLimits = { count: options.limits.entries, bytes: options.limits.entryBytes };

  /**
   * The user's usage from the store: one streamed query over their current versions projecting
   * no content (a scan on FerretDB, which is why a push never does this while the counter
   * lives). A version not yet marked superseded (a push between its insert and its mark) is
   * counted once: the highest revision of each id wins. Versions written before `size` existed
   * have their content read, in batches.
   */
  async function recount(userId: string): Promise<QuotaAmounts> {
    const current = new Map<string, CountedDoc>();
    const cursor = versions
      .find(
        { userId, superseded: { $ne: true } },
        { projection: { _id: 0, id: 1, revision: 1, deleted: 1, size: 1 } },
      )
      .batchSize(1000);
    for await (const doc of cursor as AsyncIterable<CountedDoc>) {
      const known = current.get(doc.id);
      if (!known || doc.revision > known.revision) current.set(doc.id, doc);
    }
    const total = { count: 0, bytes: 0 };
    const unsized: number[] = [];
    for (const doc of current.values()) {
      if (doc.deleted) continue;
      total.count += 1;
      if (typeof doc.size === 'number') total.bytes += doc.size;
      else unsized.push(doc.revision);
    }
    for (let i = 0; i < unsized.length; i += 500) {
      const batch = unsized.slice(i, i + 500);
      const docs = versions.find(
        { userId, revision: { $in: batch } },
        { projection: { _id: 0, content: 1 } },
      );
      for await (const doc of docs) total.bytes += sizeOfContent(doc.content);
    }
    return total;
  }

  const quota = createQuota({
    redis: options.redis,
    kind: 'entries',
    names: { count: 'entries', bytes: 'entryBytes' },
    limits,
    recount,
    ...(options.logger ? { logger: options.logger } : {}),
  });

  /** The versions at `revisions` of the user (what edits replaced), for a settlement's rare path. */
  async function versionsAt(userId: string, revisions: number[]): Promise<Map<number, Sized>> {
    const found = new Map<number, Sized>();
    if (revisions.length === 0) return found;
    const docs = await versions
      .find(
        { userId, revision: { $in: revisions } },
        { projection: { _id: 0, revision: 1, deleted: 1, content: 1, size: 1 } },
      )
      .toArray();
    for (const doc of docs) found.set(doc.revision, doc);
    return found;
  }

  return {
    limits,
    recount,

    /**
     * Reserves the net change of a push's planned docs (their replaced heads are in `known`;
     * a new entry guessed without a read counts as a create). Throws 403 quota_exceeded when it
     * increases a usage above its limit: nothing is written then. The returned hold settles
     * with the docs the push wrote (`written`, read when `settle` is called), once.
     */
    async reserve(
      userId: string,
      planned: { doc: VersionDoc }[],
      known: Map<string, KnownHead>,
      written: VersionDoc[],
    ) {
      const deltaOf = (exists: Set<string>) =>
        sumDeltas(
          planned.map((p) =>
            exists.has(p.doc.id) ? NO_CHANGE : changeDelta(p.doc, replacedOf(p.doc, known)),
          ),
        );
      let hold: QuotaReservation;
      try {
        hold = await quota.reserve(userId, deltaOf(new Set()));
      } catch (err) {
        // New entries were counted as creates without a read. Before refusing, the ones that
        // exist already (a retried push whose reply was lost: accepted as identical, or a
        // conflict) are read and left out: such a push adds nothing for them.
        const guessed = planned
          .filter((p) => p.doc.baseRevision === 0 && !known.has(p.doc.id))
          .map((p) => p.doc.id);
        if (!(err instanceof ProblemError) || err.code !== 'quota_exceeded' || !guessed.length) {
          throw err;
        }
        const existing = await versions
          .find(
            { userId, id: { $in: guessed }, superseded: { $ne: true } },
            { projection: { _id: 0, id: 1 } },
          )
          .toArray();
        if (existing.length === 0) throw err;
        hold = await quota.reserve(userId, deltaOf(new Set(existing.map((d) => d.id))));
      }
      let settled = false;
      const pushHold: PushHold = {
        async settle(): Promise<void> {
          if (settled) return;
          settled = true;
          // Edits whose replaced version is not in `known` (planned again after a collision)
          // read it; superseded versions keep their `size`.
          const missing = written
            .filter((doc) => doc.baseRevision > 0 && !replacedOf(doc, known))
            .map((doc) => doc.baseRevision);
          let replacedAt = new Map<number, Sized>();
          try {
            replacedAt = await versionsAt(userId, missing);
          } catch (err) {
            options.logger?.warn({ err }, 'quota: could not read replaced versions');
          }
          const actual = sumDeltas(
            written.map((doc) =>
              changeDelta(doc, replacedOf(doc, known) ?? replacedAt.get(doc.baseRevision)),
            ),
          );
          await hold.settle(actual);
        },
      };
      return pushHold;
    },

    /** `GET /sync/usage`: the entries quotas' usage and limits. */
    reading(userId: string): Promise<Record<string, QuotaReading>> {
      return quota.reading(userId);
    },
  };
}

export type EntriesQuota = ReturnType<typeof createEntriesQuota>;
