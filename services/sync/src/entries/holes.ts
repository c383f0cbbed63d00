import { isDuplicateKey } from '@journal/shared';
import type { Db } from 'mongodb';
import type { VersionDoc } from './repository.js';

/**
 * Holes in a user's revision sequence, and the seals that close them for good (docs/sync.md,
 * "The guarantee: no revision is ever skipped").
 *
 * A revision number that holds no version at all is a hole. A push that read the user's highest
 * revision before another push inserted above it (a head in Redis above the store after a
 * restore, a Redis read that failed) could still insert there: below a revision a device has
 * already passed. So a pull never moves a cursor over a hole that can still fill: before it
 * serves a page with one, it inserts a seal at each such revision. The `(userId, revision)`
 * unique index makes the outcome final either way: the seal took the number (no version can
 * ever take it), or a version did first (the page is read again and serves it).
 *
 * Holes the purge made (at or below the user's holes horizon, recorded before the purge deletes
 * anything) can never fill: every version there is older than the retention, and no push lives
 * that long. Seals are superseded versions (never served; ids no client can use), purged like
 * any other after the retention.
 */
export function createHoles(db: Db) {
  const versions = db.collection<VersionDoc>('entry_versions');

  return {
    /** Revisions in `(since, last]` that hold no version in any state. One query. */
    async missing(userId: string, since: number, last: number): Promise<number[]> {
      const present = new Set<number>();
      const cursor = versions
        .find(
          { userId, revision: { $gt: since, $lte: last } },
          { projection: { _id: 0, revision: 1 } },
        )
        .batchSize(last - since + 1);
      for await (const doc of cursor) present.add(doc.revision);
      const missing: number[] = [];
      for (let revision = since + 1; revision <= last; revision++) {
        if (!present.has(revision)) missing.push(revision);
      }
      return missing;
    },

    /**
     * Seals `revisions`: true when every one was still free (now taken for good), false when a
     * version got one first (read the page again). One command.
     */
    async seal(userId: string, revisions: number[]): Promise<boolean> {
      if (revisions.length === 0) return true;
      const now = new Date();
      const seals: VersionDoc[] = revisions.map((revision) => ({
        userId,
        id: `~seal-${revision}`,
        revision,
        baseRevision: revision,
        deleted: false,
        content: null,
        clientUpdatedAt: null,
        updatedAt: now,
        deviceId: null,
        superseded: true,
        supersededAt: now,
      }));
      try {
        await versions.insertMany(seals, { ordered: false });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false;
        throw err;
      }
    },
  };
}

export type Holes = ReturnType<typeof createHoles>;

/** True when `page` (ascending revisions after `since`) has no gap: nothing to check. */
export function isDense(page: { revision: number }[], since: number): boolean {
  return page.every((doc, i) => doc.revision === since + i + 1);
}
