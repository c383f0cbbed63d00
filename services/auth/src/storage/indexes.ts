import { ensureIndexes } from '@journal/shared';
import type { Collection, IndexDescription } from 'mongodb';

/** Names of the collection's indexes; none when it does not exist yet. */
export async function indexNames(collection: Collection<never>): Promise<Set<string>> {
  const existing = await (collection as unknown as Collection)
    .listIndexes()
    .toArray()
    .catch(() => []);
  return new Set(existing.map((index) => index.name as string));
}

/**
 * Creates the named indexes the collection lacks. Idempotent like `ensureIndexes`, but asks only
 * for missing ones: FerretDB 1.24 drops the connection when a createIndexes batch repeats
 * existing unique indexes.
 */
export async function ensureMissingIndexes(
  collection: Collection<never>,
  indexes: (IndexDescription & { name: string })[],
): Promise<void> {
  const names = await indexNames(collection);
  await ensureIndexes(
    collection,
    indexes.filter((index) => !names.has(index.name)),
  );
}
