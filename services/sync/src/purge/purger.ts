import type { Logger } from '@journal/shared';
import type { EntriesRepository } from '../entries/repository.js';

const BATCH = 1000;

export interface PurgerDeps {
  repository: EntriesRepository;
  retentionSeconds: number;
  logger: Logger;
}

/**
 * Removes tombstones older than the retention, and superseded versions (never served) likewise.
 * Safe on every replica at once: each step is idempotent. Per user, the purge horizon is
 * recorded BEFORE anything is deleted, and the user's highest revision is never deleted (it
 * is what the next revision is counted from). See docs/sync.md.
 */
export function createPurger(deps: PurgerDeps) {
  const { repository } = deps;

  async function runOnce(now = new Date()): Promise<{ tombstones: number; superseded: number }> {
    const cutoff = new Date(now.getTime() - deps.retentionSeconds * 1000);
    let tombstones = 0;
    for (;;) {
      const expired = await repository.expiredTombstones(cutoff, BATCH);
      const byUser = new Map<string, { id: string; revision: number }[]>();
      for (const doc of expired) {
        const list = byUser.get(doc.userId) ?? [];
        list.push({ id: doc.id, revision: doc.revision });
        byUser.set(doc.userId, list);
      }
      let progressed = false;
      for (const [userId, list] of byUser) {
        const max = await repository.maxRevision(userId);
        // A tombstone a newer version replaced (a push that died before marking it) is not the
        // entry's state: marked now, never purged as if it were (its entry lives on).
        const replaced = await repository.replacedAmong(userId, list);
        if (replaced.length > 0) {
          await repository.markSuperseded(
            userId,
            replaced.map((entry) => entry.revision),
          );
          progressed = true;
        }
        const victims = list.filter((entry) => entry.revision < max && !replaced.includes(entry));
        if (victims.length === 0) continue;
        await repository.recordPurge(userId, Math.max(...victims.map((v) => v.revision)));
        await repository.deleteThrough(userId, victims);
        tombstones += victims.length;
        progressed = true;
      }
      if (expired.length < BATCH || !progressed) break;
    }
    const superseded = await repository.deleteSuperseded(cutoff);
    if (tombstones > 0 || superseded > 0) {
      deps.logger.info({ tombstones, superseded }, 'purged old tombstones and versions');
    }
    return { tombstones, superseded };
  }

  return { runOnce };
}

export type Purger = ReturnType<typeof createPurger>;
