/**
 * make backup FILE=journal.backup.gz   — export every collection of MONGODB_DB_NAME
 * make restore FILE=journal.backup.gz  — import it into an empty database (DROP=1 to replace)
 * MONGODB_URL and MONGODB_DB_NAME (default journal) name the database. With REDIS_URL (and
 * REDIS_KEY_PREFIX, default journal:) a restore also clears the sync hints in that Redis. A
 * restore ends by giving the store a new generation: devices that pulled before it resync.
 */
import { connectRedis } from '@journal/shared';
import { MongoClient } from 'mongodb';
import { backupDatabase, clearSyncHints, restoreDatabase } from './lib/backup.js';

const [command, file] = process.argv.slice(2);
const url = process.env.MONGODB_URL;
if ((command !== 'backup' && command !== 'restore') || !file || !url) {
  process.stderr.write(
    'usage: MONGODB_URL=… [MONGODB_DB_NAME=journal] tsx scripts/backup.ts backup|restore FILE [--drop]\n',
  );
  process.exit(2);
}
const client = new MongoClient(url);
await client.connect();
const db = client.db(process.env.MONGODB_DB_NAME ?? 'journal');
try {
  const started = Date.now();
  const summary =
    command === 'backup'
      ? await backupDatabase(db, file)
      : await restoreDatabase(db, file, { drop: process.argv.includes('--drop') });
  process.stdout.write(
    `${command}: ${summary.documents} documents in ${Object.keys(summary.collections).length} collections, ${Date.now() - started} ms\n`,
  );
  for (const [name, count] of Object.entries(summary.collections))
    process.stdout.write(`  ${name}: ${count}\n`);
  if (command === 'restore') {
    process.stdout.write(
      `restore: new store generation ${summary.generation}; devices that synced before it pull ` +
        'everything again (410 resync_required); sync processes pick it up within 10 s\n',
    );
    const redisUrl = process.env.REDIS_URL;
    if (redisUrl) {
      const prefix = process.env.REDIS_KEY_PREFIX ?? 'journal:';
      const redis = await connectRedis(redisUrl, { options: { keyPrefix: prefix } });
      try {
        const cleared = await clearSyncHints(redis, prefix);
        process.stdout.write(`restore: ${cleared} sync hints cleared in Redis\n`);
      } finally {
        redis.disconnect();
      }
    } else {
      process.stdout.write(
        'restore: without REDIS_URL the sync hints in Redis were not cleared; running services ' +
          'serve the old head and recent changes until they expire (SYNC_RECENT_TTL_SECONDS)\n',
      );
    }
  }
} finally {
  await client.close();
}
