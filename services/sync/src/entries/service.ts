import type { Logger, SyncHead } from '@journal/shared';
import type { Heads } from '../changes/head.js';
import type { ChangeNotifier } from '../changes/notifier.js';
import type { RecentChanges } from '../changes/recent.js';
import type { SyncMetrics } from '../metrics.js';
import type { EntriesQuota } from '../quota/entries-quota.js';
import type { Holes } from './holes.js';
import { createPull } from './pull.js';
import { createPush } from './push.js';
import { type PushOutcome, pushReplyJson } from './push-reply.js';
import type { EntriesRepository } from './repository.js';

export { DEFAULT_CONCURRENT_PAGE_READS, MAX_PAGE_CONTENT_BYTES } from './pull.js';

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
 * The sync rules: pushes (push.ts: plan, guess, insert, mark, wake) and pulls (pull.ts: head,
 * recent changes, sealed store pages, long-polls), sharing one read of a user's highest
 * revision per process when the head is missing.
 */
export function createEntriesService(deps: EntriesServiceDeps) {
  const { repository, heads } = deps;

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

  return {
    push: createPush(deps, headFromStore),
    /** A push's reply as JSON text, the conflicts' current versions read as it is written. */
    pushReply: (userId: string, outcome: PushOutcome) => pushReplyJson(repository, userId, outcome),
    ...createPull(deps, headFromStore),
  };
}

export type EntriesService = ReturnType<typeof createEntriesService>;
