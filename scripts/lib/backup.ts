import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { deleteKeysMatching, type Redis } from '@journal/shared';
import { BSON, type Db, type Document, type IndexDescriptionInfo } from 'mongodb';
import { renewGeneration } from '../../services/sync/src/store/generation.js';

const { EJSON } = BSON;

/**
 * Archive format (gzip of newline-delimited canonical Extended JSON, so every BSON type —
 * binary GridFS chunks, dates, 64-bit integers — survives byte for byte):
 *   {"journalBackup":1,"db":"…","createdAt":"…"}
 *   {"collection":"name","indexes":[…]}      once per collection, before its documents
 *   {"d":<document>}                         one per document
 */
export interface BackupSummary {
  collections: Record<string, number>;
  documents: number;
  /** After a restore: the store's new generation (docs/sync.md, "Restores and the store's generation"). */
  generation?: string;
}

export async function backupDatabase(db: Db, file: string): Promise<BackupSummary> {
  const summary: BackupSummary = { collections: {}, documents: 0 };
  const collections = (await db.listCollections({}, { nameOnly: true }).toArray())
    .map((c) => c.name)
    .filter((name) => !name.startsWith('system.'))
    .sort();

  async function* lines() {
    yield `${JSON.stringify({ journalBackup: 1, db: db.databaseName, createdAt: new Date().toISOString() })}\n`;
    for (const name of collections) {
      const collection = db.collection(name);
      const indexes = (await collection.indexes()).filter((i) => i.name !== '_id_');
      yield `${EJSON.stringify({ collection: name, indexes }, { relaxed: false })}\n`;
      let count = 0;
      for await (const doc of collection.find({}, { sort: { _id: 1 } })) {
        count++;
        yield `${EJSON.stringify({ d: doc }, { relaxed: false })}\n`;
      }
      summary.collections[name] = count;
      summary.documents += count;
    }
  }

  await pipeline(Readable.from(lines()), createGzip(), createWriteStream(file));
  return summary;
}

/**
 * Restores an archive into `db`, which must be empty unless `drop` is set (then every
 * collection named in the archive is dropped first). Indexes are created before documents.
 * Last, the store gets a NEW generation (also when the archive brought the old one back): the
 * restored revision sequence will issue again revisions that devices may already hold, so a
 * device whose pull names the old generation resyncs (410) instead of missing changes.
 */
export async function restoreDatabase(
  db: Db,
  file: string,
  options: { drop?: boolean; batchSize?: number } = {},
): Promise<BackupSummary> {
  const summary: BackupSummary = { collections: {}, documents: 0 };
  const batchSize = options.batchSize ?? 500;
  const input = createInterface({
    input: createReadStream(file).pipe(createGunzip()),
    crlfDelay: Infinity,
  });
  let current: string | undefined;
  let batch: Document[] = [];
  let header = false;

  const flush = async () => {
    if (!current || batch.length === 0) return;
    await db.collection(current).insertMany(batch, { ordered: true });
    summary.collections[current] = (summary.collections[current] ?? 0) + batch.length;
    summary.documents += batch.length;
    batch = [];
  };

  for await (const line of input) {
    if (!line) continue;
    if (!header) {
      const first = JSON.parse(line) as { journalBackup?: number };
      if (first.journalBackup !== 1) throw new Error('not a journal backup archive');
      header = true;
      continue;
    }
    const record = EJSON.parse(line, { relaxed: false }) as {
      collection?: string;
      indexes?: IndexDescriptionInfo[];
      d?: Document;
    };
    if (record.collection) {
      await flush();
      current = record.collection;
      summary.collections[current] = 0;
      const existing = await db.listCollections({ name: current }).toArray();
      if (existing.length > 0) {
        if (!options.drop)
          throw new Error(
            `collection ${current} exists; restore into an empty database or pass --drop`,
          );
        await db.collection(current).drop();
      }
      await db.createCollection(current);
      const indexes = (record.indexes ?? []).map(({ v: _v, ns: _ns, ...spec }) => spec);
      if (indexes.length > 0) {
        await db
          .collection(current)
          .createIndexes(
            indexes.map(({ key, ...rest }) => ({ key, ...rest })) as Parameters<
              ReturnType<Db['collection']>['createIndexes']
            >[0],
          );
      }
    } else if (record.d) {
      batch.push(record.d);
      if (batch.length >= batchSize) await flush();
    }
  }
  await flush();
  if (!header) throw new Error('empty archive');
  summary.generation = await renewGeneration(db);
  return summary;
}

/**
 * After a restore under a running deployment: the sync service's hints in Redis (each user's
 * head revision and recent changes, docs/sync.md) describe the database as it was, not as
 * restored. Deleting them makes every service read MongoDB again (they are set anew from it).
 * `redis` carries `keyPrefix` (REDIS_KEY_PREFIX) as the services' clients do. Returns how many
 * keys were deleted.
 */
export async function clearSyncHints(redis: Redis, keyPrefix: string): Promise<number> {
  let deleted = 0;
  for (const pattern of ['sync:head:*', 'sync:recent:*']) {
    deleted += await deleteKeysMatching(redis, keyPrefix, pattern);
  }
  return deleted;
}
