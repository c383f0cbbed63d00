import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncHeadKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDatabase, clearSyncHints, restoreDatabase } from '../../../scripts/lib/backup.js';
import type { SyncApp } from '../src/app.js';
import {
  ensureGeneration,
  GENERATION_COLLECTION,
  readGeneration,
  renewGeneration,
} from '../src/store/generation.js';
import { bearer, type Harness, newUserId, pull, push, syncHarness } from './helpers.js';

/**
 * The store's generation (docs/sync.md, "Restores and the store's generation"): a restore
 * writes a new one, and a pull that names the old one answers 410 instead of continuing from a
 * cursor the restored store never issued. Real FerretDB and Redis; the restore is the very
 * function `make restore` runs (scripts/lib/backup.ts), against this file's database.
 */

let h: Harness;
let dir: string;

beforeAll(async () => {
  h = await syncHarness('sync_generation');
  dir = await mkdtemp(join(tmpdir(), 'journal-generation-'));
});
afterAll(async () => {
  await h?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Builds an app whose generation is re-read only when the test says so. */
function build(): Promise<SyncApp> {
  return h.build({}, { generationRefreshMs: 0 });
}

function expect410(res: { statusCode: number; headers: Record<string, unknown>; body: string }) {
  expect(res.statusCode, res.body).toBe(410);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(body).toMatchObject({ status: 410, code: 'resync_required' });
  expect(String(body.detail)).toMatch(/restored/);
}

describe('the store generation', () => {
  it('is created once at start-up, shared by every replica, and echoed by every pull', async () => {
    const a = await build();
    const b = await build();
    const generation = a.sync.generation.current();
    expect(generation).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b.sync.generation.current()).toBe(generation);
    expect(await readGeneration(h.db)).toBe(generation);

    const userId = newUserId('echo');
    const token = await h.token(userId);
    await push(a, token, [{ id: 'x', baseRevision: 0, content: { v: 1 } }]);
    const first = await pull(b, token, 'since=0');
    expect(first.res.statusCode).toBe(200);
    expect(first.res.json()).toMatchObject({ revision: 1, hasMore: false, generation });
    // With the current generation: as without it.
    const same = await pull(a, token, `since=0&generation=${generation}`);
    expect(same.res.statusCode).toBe(200);
    expect(same.res.json()).toEqual(first.res.json());
    const idle = await pull(a, token, `since=1&generation=${generation}&wait=0`);
    expect(idle.res.json()).toEqual({ changes: [], revision: 1, hasMore: false, generation });
  });

  it('is created by exactly one of several replicas starting on an empty store', async () => {
    const scratch = h.client.db(`${h.db.databaseName}_gen_race`);
    try {
      const values = await Promise.all(Array.from({ length: 6 }, () => ensureGeneration(scratch)));
      expect(new Set(values).size).toBe(1);
      expect(await scratch.collection(GENERATION_COLLECTION).countDocuments()).toBe(1);
      expect(await readGeneration(scratch)).toBe(values[0]);
    } finally {
      await scratch.dropDatabase();
    }
  });

  it('reaches a running process through the periodic re-read; a lost document changes nothing', async () => {
    const app = await h.build({}, { generationRefreshMs: 50 });
    const before = app.sync.generation.current();
    const renewed = await renewGeneration(h.db);
    expect(renewed).not.toBe(before);
    await expect.poll(() => app.sync.generation.current(), { timeout: 30_000 }).toBe(renewed);
    // A store being wiped or restored has no document for a while: the last one stays.
    await h.db.collection(GENERATION_COLLECTION).deleteMany({});
    expect(await app.sync.generation.refresh()).toBe(renewed);
    await renewGeneration(h.db);
  });
});

describe('a restore', () => {
  it('answers 410 to a cursor of the old store, as before without the parameter, and ignores old heads', async () => {
    const app = await build();
    const userId = newUserId('restore');
    const token = await h.token(userId);
    for (const id of ['a', 'b', 'c']) {
      await push(app, token, [{ id, baseRevision: 0, content: { id } }]);
    }
    const archive = join(dir, 'backup.gz');
    await backupDatabase(h.db, archive);
    // Written after the backup: lost by the restore, their revisions will be issued again.
    await push(app, token, [{ id: 'd', baseRevision: 0, content: { lost: true } }]);
    await push(app, token, [{ id: 'e', baseRevision: 0, content: { lost: true } }]);
    const old = app.sync.generation.current();
    const device = (await pull(app, token, 'since=0')).body;
    expect(device).toMatchObject({ revision: 5, generation: old });

    // `make restore FILE=… --drop` with REDIS_URL: the same two functions.
    const restored = await restoreDatabase(h.db, archive, { drop: true });
    expect(restored.generation).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(restored.generation).not.toBe(old);
    await clearSyncHints(h.redis, h.keyPrefix);
    // A process still at the old generation raised the user's head meanwhile (the re-read runs
    // every 10 s): a head of the old sequence, above the restored store's highest revision.
    await h.redis.set(syncHeadKey(userId), `5:${Date.now()}:${old}`, 'PX', 60_000);
    expect(await app.sync.generation.refresh()).toBe(restored.generation);
    const generation = restored.generation as string;

    // The device's cursor (5) was issued by the old store: resync, also while long-polling.
    expect410((await pull(app, token, `since=5&generation=${old}`)).res);
    expect410((await pull(app, token, `since=5&generation=${old}&wait=1`)).res);
    expect410((await pull(app, token, `since=0&generation=${old}`)).res);
    // Without the parameter (an older client): as before, nothing new above its cursor.
    expect((await pull(app, token, 'since=5')).res.json()).toEqual({
      changes: [],
      revision: 5,
      hasMore: false,
      generation,
    });
    // The old head is no head: the restored store's highest revision (3) replaced it.
    expect(await app.sync.heads.get(userId)).toMatchObject({ revision: 3, generation });
    expect(await h.redis.get(syncHeadKey(userId))).toMatch(new RegExp(`^3:\\d+:${generation}$`));

    // A push after the restore continues the restored sequence densely (a guess from the old
    // head would have left a hole at 4 and 5).
    await h.redis.set(syncHeadKey(userId), `5:${Date.now()}:${old}`, 'PX', 60_000);
    const next = await push(app, token, [{ id: 'f', baseRevision: 0, content: { after: true } }]);
    expect(next.body.accepted).toEqual([{ id: 'f', revision: 4 }]);

    // The resync: from 0 without a generation, then following with the new one.
    const resync = (await pull(app, token, 'since=0')).res.json();
    expect(resync.generation).toBe(generation);
    expect(resync.changes.map((e: { id: string; revision: number }) => [e.id, e.revision])).toEqual(
      [
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['f', 4],
      ],
    );
    const follow = await pull(app, token, `since=${resync.revision}&generation=${generation}`);
    expect(follow.res.json()).toEqual({ changes: [], revision: 4, hasMore: false, generation });
  });
});

describe('hostile generation parameters', () => {
  it('answer 400 problems, never 5xx', async () => {
    const app = await build();
    const token = await h.token(newUserId('hostile'));
    const cases = [
      'generation=',
      `generation=${'a'.repeat(65)}`,
      `generation=${'a'.repeat(100_000)}`,
      'generation=a%20b',
      'generation=..%2F..%2Fetc',
      'generation=a:b',
      'generation[$gt]=',
      'generation[$ne]=x',
      'generation=a&generation=b',
      'generation=%00',
      'generation=%7B%22%24gt%22%3A%22%22%7D',
    ];
    for (const query of cases) {
      const res = await app.inject({
        method: 'GET',
        url: `/sync/changes?since=0&${query}`,
        headers: bearer(token),
      });
      expect(res.statusCode, query.slice(0, 80)).toBe(400);
      expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 400 });
      expect(res.body).not.toMatch(/\bat .+\.(ts|js):\d+/);
    }
    // Without a token, the parameter changes nothing: 401.
    const anonymous = await app.inject({ method: 'GET', url: '/sync/changes?generation=abc' });
    expect(anonymous.statusCode).toBe(401);
  });
});
