import { entryJson } from './json.js';
import type { EntriesRepository, VersionDoc } from './repository.js';

/**
 * What a push decided, without any entry's content: each change accepted at a revision, or in
 * conflict with the entry's version at `currentRevision` (null: the server has no such entry).
 * This is what an Idempotency-Key keeps (idempotency.ts); the reply's `current` entries are
 * read from the store when the reply is written, a few at a time (`pushReplyJson`).
 */
export interface PushOutcome {
  accepted: { id: string; revision: number }[];
  /** `current`: that version, when the push kept it in memory (never stored, never replayed). */
  conflicts: { id: string; currentRevision: number | null; current?: VersionDoc }[];
  revision: number;
}

/** Conflicts whose current versions are read per query while the reply is written. */
const CONFLICTS_PER_READ = 8;

/**
 * The body of a push reply, as JSON text in pieces: the conflicts' current versions are read
 * eight at a time, so a reply naming 500 conflicting 1 MiB entries never holds more than a few
 * of them (the reply streams). A version replaced since the push decided (or purged) gives way
 * to the entry's newer current version: the client merges with the newest state it can get.
 */
export async function* pushReplyJson(
  repository: EntriesRepository,
  userId: string,
  outcome: PushOutcome,
): AsyncGenerator<string> {
  yield `{"accepted":${JSON.stringify(outcome.accepted)},"conflicts":[`;
  for (let i = 0; i < outcome.conflicts.length; i += CONFLICTS_PER_READ) {
    const chunk = outcome.conflicts.slice(i, i + CONFLICTS_PER_READ);
    const current = await currentOf(repository, userId, chunk);
    const parts = chunk.map((conflict) => {
      const doc = current.get(conflict.id);
      return `{"id":${JSON.stringify(conflict.id)},"reason":"revision_mismatch","current":${doc ? entryJson(doc) : 'null'}}`;
    });
    yield (i > 0 ? ',' : '') + parts.join(',');
  }
  yield `],"revision":${outcome.revision}}`;
}

async function currentOf(
  repository: EntriesRepository,
  userId: string,
  conflicts: PushOutcome['conflicts'],
): Promise<Map<string, VersionDoc>> {
  const found = new Map<string, VersionDoc>();
  for (const c of conflicts) if (c.current) found.set(c.id, c.current);
  const revisions = conflicts.flatMap((c) =>
    c.currentRevision === null || c.current ? [] : [c.currentRevision],
  );
  if (revisions.length > 0) {
    for await (const doc of repository.versionsAt(userId, revisions)) {
      if (!doc.superseded) found.set(doc.id, doc);
    }
  }
  const moved = conflicts
    .filter((c) => c.currentRevision !== null && !found.has(c.id))
    .map((c) => c.id);
  if (moved.length > 0) {
    for await (const doc of repository.currentVersions(userId, moved)) {
      const known = found.get(doc.id);
      if (!known || doc.revision > known.revision) found.set(doc.id, doc);
    }
  }
  return found;
}
