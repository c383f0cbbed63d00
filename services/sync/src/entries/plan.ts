import { isDeepStrictEqual } from 'node:util';
import type { PushRequest } from '@journal/shared';
import type { EntriesRepository, VersionDoc } from './repository.js';

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

export type Change = PushRequest['changes'][number];

/** A change to write, and its version (its revision set when it is inserted). */
export interface Planned {
  change: Change;
  doc: VersionDoc;
}

/** What a push has decided so far, filled in by `plan`. */
export interface PlanContext {
  deviceId: string | null;
  now: Date;
  acceptedAt: Map<string, number>;
  conflictWith: Map<string, HeadInfo | null>;
}

function sameState(head: VersionDoc, change: Change): boolean {
  const deleted = change.deleted === true;
  if (head.deleted !== deleted) return false;
  if (deleted) return true;
  return head.content !== null && isDeepStrictEqual(JSON.parse(head.content), change.content);
}

/**
 * Decides each change against `known` heads: identical to the head → accepted at its
 * revision; base not the head's revision → conflict; else to apply. With `optimistic`, a
 * change with base 0 is applied without a head: the `(userId, id, 0)` unique index refuses
 * it if the entry exists (superseded first versions are never purged, see the purger).
 */
export function plan(
  userId: string,
  changes: PushRequest['changes'],
  known: Map<string, HeadInfo>,
  optimistic: boolean,
  context: PlanContext,
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
 * The current versions of the entries `changes` name, as `HeadInfo`: streamed, so only the
 * facts a plan needs are kept, never 500 contents of up to 1 MiB. Two current versions of
 * one entry mean a push died between writing the newer and marking the older: the older's
 * revision goes into `unmarked`, for this push to mark (a retry accepted as identical would
 * otherwise leave it unmarked for good).
 */
export async function readHeads(
  repository: EntriesRepository,
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
