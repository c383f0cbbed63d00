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
  // Short head lifetime: a head a process raised in the restore's first seconds (before it
  // re-read the generation) lets the gateway answer idle pulls for at most this long.
  stack = await startTestStack('e2e-backup', { SYNC_HEAD_TTL_SECONDS: '5' });
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

interface Page {
  changes: { id: string; revision: number; content: unknown; deleted: boolean }[];
  revision: number;
  hasMore: boolean;
  generation?: string;
}

async function pullAll(user: Account) {
  const res = await api.get<Page>('/sync/changes?since=0&limit=1000', user.accessToken);
  expect(res.status).toBe(200);
  return res.body;
}

/** The page without its generation (a restore changes it, not the data). */
function data({ generation: _generation, ...page }: Page) {
  return page;
}

/**
 * A device as the SDK keeps one: entries by id, the cursor and its store generation. On 410 it
 * forgets everything and pulls from 0 without a generation.
 */
function device(user: Account) {
  const state = {
    entries: new Map<string, unknown>(),
    cursor: 0,
    generation: undefined as string | undefined,
    resyncs: 0,
  };
  async function pullOnce(): Promise<boolean> {
    const generation = state.generation ? `&generation=${state.generation}` : '';
    const res = await api.get<Page>(
      `/sync/changes?since=${state.cursor}&limit=7${generation}`,
      user.accessToken,
    );
    if (res.status === 410) {
      expect(res.body).toMatchObject({ code: 'resync_required' });
      state.entries.clear();
      state.cursor = 0;
      state.generation = undefined;
      state.resyncs += 1;
      return true;
    }
    expect(res.status, res.text).toBe(200);
    for (const e of res.body.changes) {
      if (e.deleted) state.entries.delete(e.id);
      else state.entries.set(e.id, e.content);
    }
    state.cursor = res.body.revision;
    state.generation = res.body.generation ?? state.generation;
    return res.body.hasMore;
  }
  return {
    state,
    pullOnce,
    async sync() {
      while (await pullOnce()) {}
    },
  };
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
    const oldGeneration = before[0]?.generation as string;
    expect(oldGeneration).toMatch(/^[A-Za-z0-9_-]+$/);
    const [first] = users as [Account];
    const phone = device(first);
    await phone.sync();

    const db = mongo.db(stack.options.dbName);
    const archive = join(dir, 'journal.backup.gz');
    const saved = await backupDatabase(db, archive);
    expect(saved.documents).toBeGreaterThan(60);
    // Written after the backup, seen by the phone, lost by the restore: the phone's cursor ends
    // up past the restored data, and the restored store issues these revisions again.
    const lost = [{ id: 'lost-1', baseRevision: 0, content: { lost: 1 } }];
    lost.push({ id: 'lost-2', baseRevision: 0, content: { lost: 2 } });
    expect((await api.post('/sync/push', { changes: lost }, first.accessToken)).status).toBe(200);
    await api.post(
      '/sync/push',
      { changes: [{ id: 'entry-0', baseRevision: 1, deleted: true }] },
      first.accessToken,
    );
    await phone.sync();
    expect(phone.state.entries.has('lost-1')).toBe(true);
    expect(phone.state.entries.has('entry-0')).toBe(false);
    const phoneCursor = phone.state.cursor;
    expect(phoneCursor).toBe((before[0]?.revision as number) + 3);
    // The sync hints in Redis (heads, recent changes) describe a database: cleared after it is
    // wiped, and again after the restore (as `make restore` does with REDIS_URL).
    const prefix = stack.options.env?.REDIS_KEY_PREFIX ?? '';
    const redis = await connectRedis(stack.options.redisUrl, { options: { keyPrefix: prefix } });
    let restored: Awaited<ReturnType<typeof restoreDatabase>> | undefined;
    try {
      await db.dropDatabase();
      expect(await clearSyncHints(redis, prefix)).toBeGreaterThanOrEqual(users.length);
      expect((await api.get('/sync/changes?since=0', users[0]?.accessToken)).text).not.toContain(
        'entry-1"',
      );

      restored = await restoreDatabase(db, archive);
      expect(restored.documents).toBe(saved.documents);
      // The restore gave the store a new generation (also over the one in the archive).
      expect(restored.generation).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(restored.generation).not.toBe(oldGeneration);
      await clearSyncHints(redis, prefix);
    } finally {
      redis.disconnect();
    }

    for (const [i, user] of users.entries()) {
      const after = await pullAll(user);
      expect(data(after)).toEqual(data(before[i] as Page));
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

    // The phone's cursor is past the restored data, and 'after-restore' took a revision below
    // it that the old store had given to 'lost-1'. Without the generation it would never see
    // it; with it, its next pulls answer 410 (once sync re-read the generation, at most 10 s,
    // and a head raised before that expired), and it converges to the restored store exactly.
    await expect
      .poll(
        async () => {
          await phone.pullOnce();
          return phone.state.resyncs;
        },
        { timeout: 90_000, interval: 500 },
      )
      .toBe(1);
    await phone.sync();
    const server = await pullAll(first);
    expect(phone.state.generation).toBe(restored?.generation);
    expect(phone.state.generation).toBe(server.generation);
    expect(phone.state.cursor).toBe(server.revision);
    const want = new Map(server.changes.filter((e) => !e.deleted).map((e) => [e.id, e.content]));
    expect([...phone.state.entries].sort()).toEqual([...want].sort());
    expect(phone.state.entries.has('after-restore')).toBe(true);
    expect(phone.state.entries.has('lost-1')).toBe(false);
    expect(phone.state.entries.has('entry-0')).toBe(true);
    // Following on in the new generation: exactly the next change, no further resync.
    await api.post(
      '/sync/push',
      { changes: [{ id: 'after-resync', baseRevision: 0, content: { n: 1 } }] },
      first.accessToken,
    );
    await phone.sync();
    expect(phone.state.entries.get('after-resync')).toEqual({ n: 1 });
    expect(phone.state.resyncs).toBe(1);
  });
});
