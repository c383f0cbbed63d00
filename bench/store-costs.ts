/**
 * `npx tsx bench/store-costs.ts`: what each of sync's queries costs the MongoDB-wire server as a
 * collection grows, with the driver alone (no HTTP, no service). It starts the server the way
 * `make dev` does (or uses MONGODB_URL) and prints one table: the insert a push makes, the reads
 * it makes before it, an empty pull's read, and a lone `_id` lookup, at each size in
 * STORE_SIZES (default "0,2000,5000" documents of other users). See docs/performance.md.
 */
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { startDependencies } from '../scripts/lib/deps.js';
import { versionDoc } from './lib/client.js';

const SIZES = (process.env.STORE_SIZES ?? '0,2000,5000').split(',').map(Number);
const BATCH = 500;

const deps = await startDependencies();
const client = await MongoClient.connect(deps.mongo.url);
const db = client.db(`store_costs_${Date.now()}`);
const versions = db.collection('entry_versions');
// The sync service's indexes (services/sync/src/entries/repository.ts).
await versions.createIndexes([
  { key: { userId: 1, revision: 1 }, unique: true },
  { key: { userId: 1, id: 1, baseRevision: 1 }, unique: true },
  { key: { deleted: 1, updatedAt: 1 } },
  { key: { superseded: 1, supersededAt: 1 } },
]);

let revision = 0;
const docs = (userId: string, n: number) =>
  Array.from({ length: n }, () => versionDoc(userId, ++revision));

async function ms(op: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await op();
  return performance.now() - started;
}

const rows: Record<string, string[]> = {
  [`insertMany of ${BATCH}`]: [],
  [`find of ${BATCH} ids ($in)`]: [],
  'highest revision (sort, limit 1)': [],
  'empty page (revision > cursor)': [],
  'one _id lookup': [],
};
const column = (name: string, value: number) => rows[name]?.push(`${value.toFixed(0)} ms`);

try {
  for (const size of SIZES) {
    for (let stored = await versions.countDocuments({ userId: { $ne: 'me' } }); stored < size; ) {
      const n = Math.min(BATCH, size - stored);
      await versions.insertMany(docs(`other-${stored % 100}`, n), { ordered: false });
      stored += n;
    }
    const ids = Array.from({ length: BATCH }, () => randomUUID());
    column(`insertMany of ${BATCH}`, await ms(() => versions.insertMany(docs('me', BATCH))));
    column(
      `find of ${BATCH} ids ($in)`,
      await ms(() =>
        versions
          .find({ userId: 'me', id: { $in: ids }, superseded: { $ne: true } })
          .batchSize(BATCH * 2)
          .toArray(),
      ),
    );
    column(
      'highest revision (sort, limit 1)',
      await ms(() =>
        versions.find({ userId: 'me' }).sort({ userId: -1, revision: -1 }).limit(1).toArray(),
      ),
    );
    column(
      'empty page (revision > cursor)',
      await ms(() =>
        versions
          .find({ userId: 'me', revision: { $gt: 1e12 }, superseded: { $ne: true } })
          .sort({ userId: 1, revision: 1 })
          .limit(BATCH + 1)
          .toArray(),
      ),
    );
    column('one _id lookup', await ms(() => versions.findOne({ _id: randomUUID() as never })));
  }
  const header = `| other users' documents | ${SIZES.map(String).join(' | ')} |`;
  const rule = `| --- | ${SIZES.map(() => '---:').join(' | ')} |`;
  const body = Object.entries(rows).map(([name, cells]) => `| ${name} | ${cells.join(' | ')} |`);
  process.stdout.write(`${[header, rule, ...body].join('\n')}\n`);
} finally {
  await db.dropDatabase();
  await client.close();
  await deps.stop();
}
