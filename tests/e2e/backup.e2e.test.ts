import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis } from '@journal/shared';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, clearSyncHints, restoreDatabase } from '../../scripts/lib/backup.js';
import { type Account, type Client, client, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

let stack: TestStack;
let api: Client;
let mongo: MongoClient;
let dir: string;

beforeAll(async () => {
  stack = await startTestStack('e2e-backup');
  api = client(stack.gateway);
  mongo = new MongoClient(stack.options.mongoUrl);
  await mongo.connect();
  dir = await mkdtemp(join(tmpdir(), 'journal-backup-'));
});

afterAll(async () => {
  await stack.stop();
  await mongo.db(stack.options.dbName).dropDatabase();
  await mongo.close();
  await rm(dir, { recursive: true, force: true });
});

async function pullAll(user: Account) {
  const res = await api.get<{
    changes: { id: string; revision: number; content: unknown }[];
    revision: number;
  }>('/sync/changes?since=0&limit=1000', user.accessToken);
  expect(res.status).toBe(200);
  return res.body;
}

async function download(user: Account, id: string): Promise<Buffer> {
  const res = await fetch(`${stack.gateway}/attachments/${id}`, {
    headers: { authorization: `Bearer ${user.accessToken}` },
  });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('backup and restore', () => {
  it('restores every entry, attachment and cursor after the database is wiped', async () => {
    const users = [await registerUser(api, 'bk1'), await registerUser(api, 'bk2')];
    const files = new Map<string, Buffer>();
    for (const [i, user] of users.entries()) {
      const changes = Array.from({ length: 30 }, (_, n) => ({
        id: `entry-${n}`,
        baseRevision: 0,
        content: { n, user: i, text: randomBytes(64).toString('base64') },
      }));
      expect((await api.post('/sync/push', { changes }, user.accessToken)).status).toBe(200);
      for (const size of [0, 1, 300 * 1024]) {
        const bytes = randomBytes(size);
        const id = `file-${size}`;
        files.set(`${user.userId}/${id}`, bytes);
        const put = await api.call('PUT', `/attachments/${id}`, {
          token: user.accessToken,
          body: bytes,
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(put.status).toBe(201);
      }
    }
    const before = await Promise.all(users.map(pullAll));

    const db = mongo.db(stack.options.dbName);
    const archive = join(dir, 'journal.backup.gz');
    const saved = await backupDatabase(db, archive);
    expect(saved.documents).toBeGreaterThan(60);
    // The sync hints in Redis (heads, recent changes) describe a database: cleared after it is
    // wiped, and again after the restore (as `make restore` does with REDIS_URL).
    const prefix = stack.options.env?.REDIS_KEY_PREFIX ?? '';
    const redis = await connectRedis(stack.options.redisUrl, { options: { keyPrefix: prefix } });
    try {
      await db.dropDatabase();
      expect(await clearSyncHints(redis, prefix)).toBeGreaterThanOrEqual(users.length);
      expect((await api.get('/sync/changes?since=0', users[0]?.accessToken)).text).not.toContain(
        'entry-1"',
      );

      const restored = await restoreDatabase(db, archive);
      expect(restored.documents).toBe(saved.documents);
      await clearSyncHints(redis, prefix);
    } finally {
      redis.disconnect();
    }

    for (const [i, user] of users.entries()) {
      const after = await pullAll(user);
      expect(after).toEqual(before[i]);
      for (const size of [0, 1, 300 * 1024]) {
        const bytes = await download(user, `file-${size}`);
        expect(bytes.equals(files.get(`${user.userId}/file-${size}`) as Buffer)).toBe(true);
      }
      // The old cursor is still valid: nothing new, then exactly the next change.
      const cursor = before[i]?.revision as number;
      const idle = await api.get<{ changes: unknown[] }>(
        `/sync/changes?since=${cursor}`,
        user.accessToken,
      );
      expect(idle.body.changes).toEqual([]);
      await api.post(
        '/sync/push',
        { changes: [{ id: 'after-restore', baseRevision: 0, content: {} }] },
        user.accessToken,
      );
      const next = await api.get<{ changes: { id: string; revision: number }[] }>(
        `/sync/changes?since=${cursor}`,
        user.accessToken,
      );
      expect(next.body.changes.map((c) => c.id)).toEqual(['after-restore']);
      expect(next.body.changes[0]?.revision).toBeGreaterThan(cursor);
    }
  });
});
