/**
 * make backup FILE=journal.backup.gz   — export every collection of MONGODB_DB_NAME
 * make restore FILE=journal.backup.gz  — import it into an empty database (DROP=1 to replace)
 * MONGODB_URL and MONGODB_DB_NAME (default journal) name the database.
 */
import { MongoClient } from 'mongodb';
import { backupDatabase, restoreDatabase } from './lib/backup.js';

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
} finally {
  await client.close();
}
