import { randomBytes } from 'node:crypto';
import { JournalClient, MemoryTokenStore } from '@journal/client';
import { connectMongo, connectRedis, type MongoHandle } from '@journal/shared';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, entry, jpegWithExif, mark } from '../../test-support/canary-fixtures.js';
import {
  CanaryScanner,
  type Hit,
  needlesOf,
  scanHttp,
  show,
  stores,
  summary,
} from '../../test-support/canary-scan.js';
import { client, registerUser } from '../../test-support/client.js';
import { mongoUrl, redisUrl } from '../../test-support/index.js';
import { qiniuStandIn } from '../../test-support/qiniu-stand-in.js';
import { qiniuUploadStandIn } from '../../test-support/qiniu-upload-stand-in.js';
import { RecordingProxy } from '../../test-support/recording-proxy.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * "The server sees nothing" (docs/encryption.md): canaries in every field of entries, in a
 * photo's EXIF and name and in a Qiniu object, written by two devices before and after
 * encryption is turned on, then searched in every form (plain, hex, base64 at every alignment)
 * in every store the server has: each collection of its database (binary decoded), its Redis
 * keys, the Qiniu bucket, every service's log, and every HTTP body the gateway saw.
 */

const QINIU = { accessKey: 'canary-ak', secretKey: 'canary-sk-0123456789', bucket: 'jc' };
const PASSWORD = 'canary account password';

let proxy: RecordingProxy;
let stack: TestStack;
let mongo: MongoHandle;
let redis: Redis;
const bucket = qiniuStandIn(QINIU);
const uploads = qiniuUploadStandIn({ ...QINIU, objects: bucket.objects });

beforeAll(async () => {
  proxy = await new RecordingProxy().listen();
  const managementUrl = await bucket.listen();
  stack = await startTestStack('e2e-canary', {
    QINIU_ACCESS_KEY: QINIU.accessKey,
    QINIU_SECRET_KEY: QINIU.secretKey,
    QINIU_BUCKET_NAME: QINIU.bucket,
    QINIU_UPLOAD_DOMAIN: await uploads.listen(),
    QINIU_RS_HOST: managementUrl,
    QINIU_RSF_HOST: managementUrl,
    // Qiniu calls back through the proxy: that body is one the gateway sees too.
    QINIU_CALLBACK_URL: `${proxy.url}/storage/qiniu/callback`,
    RATE_LIMIT_AUTHENTICATED_MAX: '1000000',
    RATE_LIMIT_MAX: '1000000',
  });
  proxy.forwardTo(stack.gateway);
  mongo = await connectMongo(mongoUrl(), { dbName: stack.options.dbName ?? 'journal' });
  redis = await connectRedis(redisUrl());
});

afterAll(async () => {
  await stack?.stop();
  await mongo?.close();
  redis?.disconnect();
  await proxy?.close();
  await bucket.close();
  await uploads.close();
});

/** Canaries written in plaintext before encryption, after it, and by the control account. */
const before: string[] = [];
const after: string[] = [];
const control: string[] = [];

/** Searches every store the stack has (the HTTP bodies too) for `canaries`. */
async function scanEverything(canaries: string[]): Promise<CanaryScanner> {
  const scanner = new CanaryScanner(canaries);
  await scanner.scanMongo(mongo.db);
  await scanner.scanRedis(redis, stack.options.env?.REDIS_KEY_PREFIX ?? '');
  for (const o of uploads.stored())
    scanner.item('qiniu', o.key, Buffer.concat([Buffer.from(`${o.key} ${o.mimeType}\n`), o.bytes]));
  for (const [i, line] of stack.logs().entries()) scanner.item('logs', `line ${i}`, line);
  expect(scanHttp(scanner, proxy.exchanges), 'bodies whose encoding could not be undone').toBe(0);
  return scanner;
}

describe('the scanner', () => {
  it('finds a canary in every form it can take, at every alignment', () => {
    const c = canary('self');
    const scanner = new CanaryScanner([c]);
    for (const shift of [0, 1, 2]) {
      const bytes = Buffer.concat([randomBytes(shift), Buffer.from(c), randomBytes(shift + 1)]);
      for (const encoding of ['base64', 'base64url', 'hex'] as const)
        scanner.scan(encoding, `+${shift}`, `x${bytes.toString(encoding)}x`);
      scanner.scan('HEX', `+${shift}`, bytes.toString('hex').toUpperCase());
      scanner.scan('raw', `+${shift}`, bytes);
    }
    expect(new Set(scanner.hits.map((h) => `${h.store}${h.where}`)).size).toBe(15);
    expect(needlesOf(c).every((n) => n.text.length >= 20)).toBe(true);
    const clean = new CanaryScanner([c]);
    clean.scan('random', '', randomBytes(100_000).toString('base64'));
    expect(clean.hits).toEqual([]);
  });
});

describe('the stores scanned', () => {
  it('control: plaintext of an account without encryption is found in every store', async () => {
    const api = client(proxy.url);
    const account = await registerUser(api, 'control');
    const token = account.accessToken;
    const pushed = await api.post(
      '/sync/push',
      {
        changes: [
          { id: 'ctl-1', baseRevision: 0, content: { note: mark(control, canary('push')) } },
        ],
      },
      token,
    );
    expect(pushed.status, pushed.text).toBe(200);
    const fileCanary = mark(control, canary('file'));
    const file = Buffer.concat([randomBytes(301), Buffer.from(fileCanary)]);
    const put = await api.call('PUT', '/attachments/ctl-file', {
      token,
      body: file,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(put.status, put.text).toBe(201);
    // A canary in a path: the services log each request's path.
    expect((await api.get(`/attachments/${mark(control, canary('path'))}`, token)).status).toBe(
      404,
    );
    const qiniuBytes = Buffer.from(`video ${mark(control, canary('qiniu'))}`);
    const c = new JournalClient({ baseUrl: proxy.url, tokenStore: new MemoryTokenStore() });
    await c.auth.login({ username: account.username, password: account.password });
    await c.attachments.uploadToQiniu('ctl/clip.bin', new Blob([qiniuBytes]), {
      contentType: 'video/mp4',
    });
    await c.close();

    const scanner = await scanEverything(control);
    expect(stores(scanner.hits)).toEqual(['http', 'logs', 'mongo', 'qiniu', 'redis']);
    const fileHits = scanner.hitsOf([fileCanary]).filter((h) => h.store === 'mongo');
    // The chunk's bytes as EJSON base64, and decoded.
    expect(fileHits.some((h) => h.form.startsWith('base64'))).toBe(true);
    expect(fileHits.some((h) => h.form === 'plain' && /decoded/.test(h.where))).toBe(true);
  });
});

describe('end-to-end encryption: the server sees nothing', () => {
  it('two devices, a migration, a conflict and a passphrase change: no canary readable anywhere', async () => {
    const username = `canary_${randomBytes(5).toString('hex')}`;
    const device = (id: string) =>
      new JournalClient({ baseUrl: proxy.url, tokenStore: new MemoryTokenStore(), deviceId: id });
    const byTitle = async (c: JournalClient) =>
      new Map((await c.entries.list()).map((e) => [e.content?.title, e.content]));

    // Plaintext: two entries (one edited twice: a replaced version), a photo with EXIF.
    proxy.phase = 'pre';
    const a = device('device-a');
    await a.auth.register({ username, password: PASSWORD });
    const exifBefore = mark(before, canary('exifpre'));
    const photo = jpegWithExif(exifBefore);
    await a.attachments.upload('photo-pre', new Blob([photo]), {
      contentType: 'image/jpeg',
      name: `${mark(before, canary('namepre'))}.jpg`,
    });
    await a.entries.put('e-one', entry(before, 'one'));
    await a.entries.put('e-two', entry(before, 'two'));
    await a.sync.syncNow();
    const one = entry(before, 'oneb', [{ id: 'photo-pre', contentType: 'image/jpeg' }]);
    await a.entries.put('e-one', one);
    await a.sync.syncNow();

    // Encryption on; the migration runs to its end.
    proxy.phase = 'migration';
    const pass1 = mark(after, `canary passphrase ${canary('pass1')}`);
    const pass2 = mark(after, `canary passphrase ${canary('pass2')}`);
    const { recoveryKey } = await a.encryption.enable({
      passphrase: pass1,
      accountPassword: PASSWORD,
    });
    mark(after, recoveryKey);
    await a.encryption.resume();
    expect(a.encryption.state).toBe('unlocked');
    expect((await a.entries.get('e-one'))?.content?.photos).not.toEqual(one.photos);
    proxy.phase = 'post';
    const migrated = await scanEverything([...before, ...after]);
    expect(show(migrated.hits.filter((h) => !h.store.startsWith('http:')))).toEqual([]);

    // Device B: locked, unlocked, reads the migrated journal (the photo decrypted).
    const b = device('device-b');
    await b.auth.login({ username, password: PASSWORD });
    expect(await b.encryption.refresh()).toBe('locked');
    await b.encryption.unlock(pass1);
    await b.sync.syncNow();
    const seen = (await byTitle(b)).get(one.title);
    expect(seen).toEqual({
      ...one,
      photos: [expect.objectContaining({ contentType: 'image/jpeg' })],
    });
    const newPhotoId = String((seen?.photos as { id: string }[] | undefined)?.[0]?.id);
    const history = await b.entries.history('e-one');
    expect(history.map((v) => v.content?.title ?? null)).toContain(one.title);
    const got = Buffer.from(await (await b.attachments.download(newPhotoId)).arrayBuffer());
    expect(got.equals(photo)).toBe(true);

    // Both edit; B adds a photo; A uploads to Qiniu.
    await a.entries.put('e-one', entry(after, 'onec', seen?.photos as typeof one.photos));
    const exifAfter = mark(after, canary('exifpost'));
    await b.attachments.upload('photo-post', new Blob([jpegWithExif(exifAfter)]), {
      contentType: 'image/jpeg',
      name: `${mark(after, canary('namepost'))}.jpg`,
    });
    await b.entries.put(
      'e-three',
      entry(after, 'three', [{ id: 'photo-post', contentType: 'image/jpeg' }]),
    );
    const clip = Buffer.from(`a clip: ${mark(after, canary('qiniupost'))}`);
    await a.attachments.uploadToQiniu('clips/clip.bin', new Blob([clip]), {
      contentType: 'video/mp4',
    });
    expect(uploads.stored().find((o) => o.key.endsWith('clips/clip.bin'))?.mimeType).toBe(
      'application/vnd.journal.encrypted',
    );
    await a.sync.syncNow();
    await b.sync.syncNow();

    // A conflict: both edit e-two at once; B's edit is kept as a copy (the default).
    const fromA = entry(after, 'twoa');
    const fromB = entry(after, 'twob');
    await a.entries.put('e-two', fromA);
    await b.entries.put('e-two', fromB);
    await a.sync.syncNow();
    await b.sync.syncNow();
    await a.sync.syncNow();
    expect((await a.entries.get('e-two'))?.content).toEqual(fromA);
    expect((await byTitle(a)).get(fromB.title)).toEqual(fromB);

    // A changes the passphrase; B, unlocked, keeps syncing (live) and editing.
    b.sync.start();
    await a.encryption.changePassphrase(pass1, pass2);
    const four = entry(after, 'four');
    await b.entries.put('e-four', four);
    await expect
      .poll(async () => {
        await a.sync.syncNow();
        return (await a.entries.get('e-four'))?.content;
      })
      .toEqual(four);

    // A second round, no migration: more edits on both.
    const last = entry(after, 'fivea');
    await a.entries.put('e-five', last);
    await b.entries.put(
      'e-three',
      entry(after, 'threeb', [{ id: 'photo-post', contentType: 'image/jpeg' }]),
    );
    await a.sync.syncNow();
    await expect.poll(async () => (await byTitle(b)).get(last.title)).toEqual(last);
    await b.sync.stop();
    await b.sync.syncNow();
    await a.sync.syncNow();
    expect(await byTitle(a)).toEqual(await byTitle(b));
    expect(b.encryption.state).toBe('unlocked');
    await a.close();
    await b.close();

    // B's live long-polls are among the recorded answers (streamed, kept as they arrived).
    const polls = proxy.exchanges.filter((x) => /^\/sync\/changes\?.*wait=[1-9]/.test(x.url));
    expect(polls.some((x) => x.phase === 'post' && x.status === 200)).toBe(true);
    const scanner = await scanEverything([...control, ...before, ...after]);
    // The scan works on every store (the control account's plaintext is found in each).
    expect(stores(scanner.hitsOf(control))).toEqual(['http', 'logs', 'mongo', 'qiniu', 'redis']);
    // Written after encryption was turned on (or never sent: passphrases, recovery key): nowhere.
    expect(show(scanner.hitsOf(after))).toEqual([]);
    // Written before: only in what was sent before `enable`, and in the migration's reads.
    const earlier = scanner.hitsOf(before);
    expect(show(earlier.filter((h) => !allowedBefore(h)))).toEqual([]);
    expect(earlier.some((h) => h.store === 'http:pre:request')).toBe(true);
    console.log(summary(scanner));
  }, 240_000);
});

/**
 * Plaintext written before `enable` may be in the HTTP bodies of that time, and in the one
 * answer that serves it to the migrating device: the old photo, downloaded to be encrypted (the
 * SDK keeps no copy of attachments; entries it encrypts from its local store). No request from
 * `enable` on carries it, and nothing after the migration.
 */
function allowedBefore(h: Hit): boolean {
  if (h.store === 'http:pre:request' || h.store === 'http:pre:response') return true;
  return (
    h.store === 'http:migration:response' && /^#\d+ GET \/attachments\/photo-pre /.test(h.where)
  );
}
