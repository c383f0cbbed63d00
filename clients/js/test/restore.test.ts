import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JournalClient } from '@journal/client';
import { connectRedis } from '@journal/shared';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, clearSyncHints, restoreDatabase } from '../../../scripts/lib/backup.js';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { PASSWORD, uniqueUser } from './helpers.js';

/**
 * The SDK across a restore of the server's database (docs/sync.md, "Restores and the store's
 * generation"): a device whose cursor is past the restored data resyncs instead of missing the
 * changes made after the restore, and keeps its unpushed edits. Real services and `make
 * restore`'s own functions.
 */

let stack: TestStack;
let mongo: MongoClient;
let dir: string;
beforeAll(async () => {
  // A short head lifetime bounds how long the gateway may answer from a head raised just
  // before sync re-read the generation.
  stack = await startTestStack('sdk-restore', { SYNC_HEAD_TTL_SECONDS: '5' });
  mongo = new MongoClient(stack.options.mongoUrl);
  await mongo.connect();
  dir = await mkdtemp(join(tmpdir(), 'journal-sdk-restore-'));
});
afterAll(async () => {
  await stack?.stop();
  await mongo?.db(stack.options.dbName).dropDatabase();
  await mongo?.close();
  await rm(dir, { recursive: true, force: true });
});

const contents = async (c: JournalClient) =>
  (await c.entries.list()).map((e) => [e.id, e.content]).sort();

describe('a restore of the server', () => {
  it('makes a device past the restored data resync, keeping its unpushed edits', async () => {
    const username = uniqueUser('restore');
    const a = new JournalClient({ baseUrl: stack.gateway });
    await a.auth.register({ username, password: PASSWORD });
    for (const id of ['a', 'b', 'c']) await a.entries.put(id, { id });
    await a.sync.syncNow();

    const db = mongo.db(stack.options.dbName);
    const archive = join(dir, 'backup.gz');
    await backupDatabase(db, archive);
    // After the backup: lost by the restore, but B has seen it.
    await a.entries.put('lost', { lost: true });
    await a.entries.delete('a');
    await a.sync.syncNow();
    const b = new JournalClient({ baseUrl: stack.gateway });
    await b.auth.login({ username, password: PASSWORD });
    await b.sync.syncNow();
    expect((await b.entries.list()).map((e) => e.id)).toEqual(['b', 'c', 'lost']);
    // B edits offline.
    await b.entries.put('b-offline', { from: 'b' });

    // `make restore FILE=… DROP=1` with REDIS_URL.
    const restored = await restoreDatabase(db, archive, { drop: true });
    const prefix = stack.options.env?.REDIS_KEY_PREFIX ?? '';
    const redis = await connectRedis(stack.options.redisUrl, { options: { keyPrefix: prefix } });
    try {
      await clearSyncHints(redis, prefix);
    } finally {
      redis.disconnect();
    }

    // A fresh device writes to the restored store: its revision (4) is one B already holds.
    const c = new JournalClient({ baseUrl: stack.gateway });
    await c.auth.login({ username, password: PASSWORD });
    await c.sync.syncNow();
    await c.entries.put('after', { after: true });
    await c.sync.syncNow();

    const changes: { ids: string[] }[] = [];
    b.on('change', (e) => changes.push(e));
    // B's pulls answer "nothing new" until sync re-read the generation (at most 10 s) and a head
    // raised before that expired, then 410: B rebuilds from 0 and gets the restored store.
    await expect
      .poll(
        async () => {
          await b.sync.pull();
          return (await b.entries.list()).map((e) => e.id).sort();
        },
        { timeout: 90_000, interval: 500 },
      )
      .toEqual(['a', 'after', 'b', 'b-offline', 'c']);
    expect(changes.some((e) => e.ids.length === 0)).toBe(true);
    expect(await b.entries.pendingCount()).toBe(1);

    await b.sync.syncNow();
    const server = new JournalClient({ baseUrl: stack.gateway });
    await server.auth.login({ username, password: PASSWORD });
    await server.sync.syncNow();
    const want = await contents(server);
    expect(want).toEqual([
      ['a', { id: 'a' }],
      ['after', { after: true }],
      ['b', { id: 'b' }],
      ['b-offline', { from: 'b' }],
      ['c', { id: 'c' }],
    ]);
    expect(await contents(b)).toEqual(want);
    expect(await b.entries.pendingCount()).toBe(0);
    // B now follows the restored store's generation: the next change, no further resync.
    const resyncs = changes.filter((e) => e.ids.length === 0).length;
    await c.entries.put('next', { n: 1 });
    await c.sync.syncNow();
    await b.sync.pull();
    expect((await b.entries.get('next'))?.content).toEqual({ n: 1 });
    expect(changes.filter((e) => e.ids.length === 0).length).toBe(resyncs);
    expect(restored.generation).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
