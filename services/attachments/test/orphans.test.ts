import { Readable } from 'node:stream';
import { ObjectId } from 'mongodb';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongoUrl, redisUrl, silentLogger } from '../../../test-support/index.js';
import { exited, startServiceProcess } from '../../../test-support/processes.js';
import {
  createOrphanSweeper,
  createPendingRepository,
  keepAlive,
} from '../src/attachments/pending.js';
import { createAttachmentsRepository } from '../src/attachments/repository.js';
import { createAttachmentsMetrics } from '../src/metrics.js';
import { CHUNK_SIZE } from '../src/storage/content-store.js';
import { startAttachmentsApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await startAttachmentsApp('orphans');
});
afterAll(async () => {
  await t?.close();
});

const GRACE_SECONDS = 3600;
/** A sweep as it would run once every marker written so far is past its grace. */
const later = () => new Date(Date.now() + (GRACE_SECONDS + 60) * 1000);

function deps() {
  const pending = createPendingRepository(t.db);
  const metrics = createAttachmentsMetrics(new Registry());
  const sweeper = createOrphanSweeper({
    pending,
    repository: createAttachmentsRepository(t.db),
    store: t.store,
    metrics,
    logger: silentLogger(),
    graceSeconds: GRACE_SECONDS,
  });
  return { pending, sweeper, metrics };
}

async function* chunksOf(count: number, hold?: Promise<void>) {
  for (let i = 0; i < count; i++) yield Buffer.alloc(CHUNK_SIZE, i + 1);
  if (hold) await hold;
}

async function put(userId: string, id: string, body: Buffer) {
  return t.app.inject({
    method: 'PUT',
    url: `/attachments/${id}`,
    headers: { ...(await t.auth(userId)), 'content-type': 'application/octet-stream' },
    payload: body,
  });
}

describe('pending markers', () => {
  it('are gone once a PUT and a DELETE have finished', async () => {
    const { pending } = deps();
    const before = await pending.count();
    expect((await put('u-clean', 'a1', Buffer.alloc(CHUNK_SIZE + 10, 7))).statusCode).toBe(201);
    expect(await pending.count()).toBe(before);
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/attachments/a1',
      headers: await t.auth('u-clean'),
    });
    expect(del.statusCode).toBe(204);
    expect(await pending.count()).toBe(before);
  });

  it('let one of two concurrent DELETEs answer 204 and the other 404, leaving no content', async () => {
    const { pending } = deps();
    const body = Buffer.alloc(CHUNK_SIZE + 3, 5);
    expect((await put('u-race', 'twice', body)).statusCode).toBe(201);
    const doc = await createAttachmentsRepository(t.db).find('u-race', 'twice');
    if (!doc) throw new Error('missing attachment');
    const del = async () =>
      (
        await t.app.inject({
          method: 'DELETE',
          url: '/attachments/twice',
          headers: await t.auth('u-race'),
        })
      ).statusCode;
    const statuses = await Promise.all([del(), del()]);
    expect(statuses.sort()).toEqual([204, 404]);
    expect(await t.store.countChunks(doc.fileId)).toBe(0);
    // A loser's marker, if any, is settled by the sweeper; the file is gone either way.
    await deps().sweeper.runOnce(later());
    expect(await pending.count()).toBe(0);
  });

  it('abort an upload with 503 and keep no chunk when its marker was swept', async () => {
    const { pending } = deps();
    const fileId = new ObjectId();
    // No marker at all: as if the sweeper had settled it.
    await expect(
      t.store.write(chunksOf(3), {
        maxBytes: 10 * CHUNK_SIZE,
        filename: 'swept',
        fileId,
        afterChunk: keepAlive(pending, fileId, 0),
      }),
    ).rejects.toMatchObject({ code: 'upstream_unavailable', statusCode: 503 });
    expect(await t.store.countChunks(fileId)).toBe(0);
  });
});

describe('the orphan sweeper', () => {
  it('removes the chunks of an upload whose process died mid-write', async () => {
    const { pending, sweeper, metrics } = deps();
    const fileId = new ObjectId();
    await pending.add(fileId, 'u-dead', 'half');
    // A write that never ends: its chunks are stored, its files document never is.
    let release = () => {};
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const write = t.store
      .write(chunksOf(2, hold), { maxBytes: 10 * CHUNK_SIZE, filename: 'half', fileId })
      .catch(() => undefined);
    await expect.poll(() => t.store.countChunks(fileId)).toBe(2);

    // Within the grace it is left alone: it may be a live upload.
    await sweeper.runOnce(new Date());
    expect(await t.store.countChunks(fileId)).toBe(2);

    const result = await sweeper.runOnce(later());
    expect(result.removed).toBeGreaterThanOrEqual(1);
    expect(await t.store.countChunks(fileId)).toBe(0);
    expect(await pending.count()).toBe(0);
    expect((await metrics.orphansRemoved.get()).values[0]?.value).toBeGreaterThanOrEqual(1);
    release();
    await write;
  });

  it('removes a finished file that never got its metadata', async () => {
    const { pending, sweeper } = deps();
    const fileId = new ObjectId();
    await pending.add(fileId, 'u-dead', 'unclaimed');
    await t.store.write(chunksOf(2), { maxBytes: 10 * CHUNK_SIZE, filename: 'x', fileId });
    const files = await t.db
      .collection('attachments_content.files')
      .countDocuments({ _id: fileId });
    expect(files).toBe(1);
    await sweeper.runOnce(later());
    expect(await t.store.countChunks(fileId)).toBe(0);
    expect(await t.db.collection('attachments_content.files').countDocuments({ _id: fileId })).toBe(
      0,
    );
  });

  it('keeps content its attachment references and only clears the marker', async () => {
    const { pending, sweeper } = deps();
    const body = Buffer.alloc(CHUNK_SIZE * 2 + 5, 3);
    expect((await put('u-kept', 'kept', body)).statusCode).toBe(201);
    const doc = await createAttachmentsRepository(t.db).find('u-kept', 'kept');
    if (!doc) throw new Error('missing attachment');
    // As if the process died after the metadata insert, before clearing its marker.
    await pending.add(doc.fileId, 'u-kept', 'kept');
    const result = await sweeper.runOnce(later());
    expect(result).toEqual({ removed: 0, settled: 1 });
    const get = await t.app.inject({
      method: 'GET',
      url: '/attachments/kept',
      headers: await t.auth('u-kept'),
    });
    expect(get.statusCode).toBe(200);
    expect(get.rawPayload.equals(body)).toBe(true);
    expect(await pending.count()).toBe(0);
  });

  it('finishes a delete that died between the metadata and the content', async () => {
    const { pending, sweeper } = deps();
    expect((await put('u-del', 'gone', Buffer.alloc(CHUNK_SIZE + 1, 9))).statusCode).toBe(201);
    const doc = await createAttachmentsRepository(t.db).find('u-del', 'gone');
    if (!doc) throw new Error('missing attachment');
    await pending.add(doc.fileId, 'u-del', 'gone');
    await t.db.collection('attachments').deleteOne({ owner: 'u-del', id: 'gone' });
    await sweeper.runOnce(later());
    expect(await t.store.countChunks(doc.fileId)).toBe(0);
  });
});

describe('a real attachments process killed mid-upload', () => {
  it('leaves a marker, and the sweeper removes every chunk it wrote', async () => {
    const { pending, sweeper } = deps();
    const proc = await startServiceProcess('attachments', {
      MONGODB_URL: mongoUrl(),
      MONGODB_DB_NAME: t.db.databaseName,
      REDIS_URL: redisUrl(),
      JWT_PUBLIC_KEYS: t.keys.jwks,
    });
    const chunksBefore = await t.store.countChunks();
    const markersBefore = await pending.count();
    const abort = new AbortController();
    const never = new Promise<void>(() => {});
    const upload = request(`${proc.url}/attachments/killed`, {
      method: 'PUT',
      headers: { ...(await t.auth('u-kill')), 'content-type': 'application/octet-stream' },
      body: Readable.from(chunksOf(3, never)),
      signal: abort.signal,
    }).catch(() => undefined);
    try {
      await expect.poll(() => t.store.countChunks(), { timeout: 15_000 }).toBe(chunksBefore + 3);
    } finally {
      proc.child.kill('SIGKILL');
      await exited(proc);
      abort.abort();
      await upload;
    }
    expect(await pending.count()).toBe(markersBefore + 1);
    await sweeper.runOnce(later());
    expect(await t.store.countChunks()).toBe(chunksBefore);
    expect(await pending.count()).toBe(0);
  });
});
