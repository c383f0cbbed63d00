import {
  createEntriesRepository,
  type EntriesRepository,
} from '../../services/sync/src/entries/repository.js';
import type { BenchContext } from './context.js';

let counter = 0;

/**
 * Sync's own repository (its collection, indexes and queries) in a database of its own, for
 * raw-driver baselines that must not grow the service's collection.
 */
export async function rawVersions(
  ctx: Pick<BenchContext, 'mongo' | 'stack'>,
): Promise<EntriesRepository & { drop(): Promise<void> }> {
  counter += 1;
  const db = ctx.mongo.db(`${ctx.stack.options.dbName}_raw${counter}`);
  const repository = createEntriesRepository(db);
  await repository.ensureIndexes();
  return Object.assign(repository, {
    drop: async () => {
      await db.dropDatabase();
    },
  });
}
