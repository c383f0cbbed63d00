import { createHmac } from 'node:crypto';
import { createAccountDeletions } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qiniuStandIn } from '../../../test-support/qiniu-stand-in.js';
import { startAttachmentsApp, type TestApp } from './helpers.js';

const AK = 'deletion-access-key';
const SK = 'deletion-secret-key-0123456789';
const BUCKET = 'journal-deletion';

const standIn = qiniuStandIn({ accessKey: AK, secretKey: SK, bucket: BUCKET });
let t: TestApp;
let wrongKey: TestApp;

function qiniuEnv(url: string, secret: string) {
  return {
    QINIU_ACCESS_KEY: AK,
    QINIU_SECRET_KEY: secret,
    QINIU_BUCKET_NAME: BUCKET,
    QINIU_UPLOAD_DOMAIN: 'up-z2.qiniup.com',
    QINIU_RS_HOST: url,
    QINIU_RSF_HOST: url,
    ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0',
    ACCOUNT_DELETION_SETTLE_SECONDS: '0',
  };
}

beforeAll(async () => {
  const url = await standIn.listen();
  [t, wrongKey] = await Promise.all([
    startAttachmentsApp('qiniu_deletion', qiniuEnv(url, SK)),
    startAttachmentsApp('qiniu_deletion_wrong', qiniuEnv(url, 'not-the-secret-key-000000')),
  ]);
});
afterAll(async () => {
  await Promise.all([t?.close(), wrongKey?.close()]);
  await standIn.close();
});

function fill(owner: string, count: number): string[] {
  const keys = Array.from(
    { length: count },
    (_, i) => `users/${owner}/photos/${String(i).padStart(5, '0')}.jpg`,
  );
  for (const key of keys) standIn.objects.add(key);
  return keys;
}

describe('account deletion in the Qiniu bucket', () => {
  it('lists users/<userId>/ and batch-deletes it page by page, with the SDK’s own signature', async () => {
    standIn.objects.clear();
    fill('alice', 1500);
    const bobKeys = fill('bob', 3);
    // A user whose id starts with alice's: outside her namespace, so untouched.
    standIn.objects.add('users/alice2/diary.jpg');
    standIn.objects.add('elsewhere/users/alice/x.jpg');
    const bytes = Buffer.from('alice attachment');
    const put = await t.app.inject({
      method: 'PUT',
      url: '/attachments/a1',
      headers: { ...(await t.auth('alice')), 'content-type': 'application/octet-stream' },
      payload: bytes,
    });
    expect(put.statusCode).toBe(201);
    await t.db.collection('qiniu_uploads').insertOne({
      key: 'users/alice/photos/00001.jpg',
      owner: 'alice',
      bucket: BUCKET,
      size: 1,
      hash: 'h',
      mimeType: null,
      uploadedAt: new Date(),
    });
    standIn.requests.length = 0;

    await createAccountDeletions(t.db).request('alice', 'alice');
    const result = await t.app.attachments.deletion.sweeper.runOnce();
    expect(result).toEqual({ swept: 1, completed: 1 });

    expect([...standIn.objects].sort()).toEqual(
      [...bobKeys, 'elsewhere/users/alice/x.jpg', 'users/alice2/diary.jpg'].sort(),
    );
    expect(standIn.requests.length).toBeGreaterThanOrEqual(4);
    expect(standIn.requests.every((r) => r.verified)).toBe(true);
    const batches = standIn.requests.filter((r) => r.path === '/batch');
    expect(batches.map((b) => b.ops)).toEqual([1000, 500]);
    expect(standIn.requests.filter((r) => r.path === '/list')).toHaveLength(2);
    expect(await t.db.collection('qiniu_uploads').countDocuments({ owner: 'alice' })).toBe(0);
    expect(await t.db.collection('attachments').countDocuments({ owner: 'alice' })).toBe(0);
    expect(await t.storedContent()).toEqual({ chunks: 0, files: 0 });
  });

  it('repeats harmlessly: a second pass finds nothing and changes nothing', async () => {
    standIn.objects.clear();
    fill('carol', 5);
    const bob = fill('bob', 2);
    await createAccountDeletions(t.db).request('carol', 'carol');
    const deletion = t.app.attachments.deletion.sweeper;
    await deletion.runOnce();
    // The completion is recorded; a replica that had not seen it yet sweeps again.
    await t.db.collection('account_deletion_done').deleteMany({ userId: 'carol' });
    standIn.requests.length = 0;
    await deletion.runOnce();
    expect([...standIn.objects].sort()).toEqual(bob);
    expect(standIn.requests.map((r) => r.path)).toEqual(['/list']);
  });

  it('is refused by Qiniu when signed with another secret key, and the deletion stays open', async () => {
    standIn.objects.clear();
    const keys = fill('dave', 3);
    standIn.requests.length = 0;
    await createAccountDeletions(wrongKey.db).request('dave', 'dave');
    await expect(wrongKey.app.attachments.deletion.sweeper.runOnce()).rejects.toThrow(/401/);
    expect(standIn.requests.length).toBeGreaterThan(0);
    expect(standIn.requests.every((r) => !r.verified)).toBe(true);
    expect([...standIn.objects]).toEqual(keys);
    expect(
      await wrongKey.db.collection('account_deletion_done').countDocuments({ userId: 'dave' }),
    ).toBe(0);
  });

  it('deletes at once an object a deleted account uploads with an old token (callback)', async () => {
    await createAccountDeletions(t.db).request('frank', 'frank');
    const key = 'users/frank/late.jpg';
    standIn.objects.add(key);
    standIn.objects.add('users/frankie/kept.jpg');
    const path = '/storage/qiniu/callback';
    const body = JSON.stringify({
      key,
      fsize: 3,
      hash: 'Fh',
      mimeType: 'image/jpeg',
      bucket: BUCKET,
    });
    const signature = createHmac('sha1', SK)
      .update(`${path}\n${body}`)
      .digest('base64')
      .replace(/\+/g, '-')
      .replace(/\//g, '_');
    const res = await t.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': 'application/json', authorization: `QBox ${AK}:${signature}` },
      payload: body,
    });
    expect(res.statusCode).toBe(401);
    expect(standIn.objects.has(key)).toBe(false);
    expect(standIn.objects.has('users/frankie/kept.jpg')).toBe(true);
    expect(await t.db.collection('qiniu_uploads').countDocuments({ key })).toBe(0);
  });

  it('refuses an upload by a user whose account is being deleted', async () => {
    await createAccountDeletions(t.db).request('erin', 'erin');
    const res = await t.app.inject({
      method: 'PUT',
      url: '/attachments/late',
      headers: { ...(await t.auth('erin')), 'content-type': 'application/octet-stream' },
      payload: Buffer.from('too late'),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().code).toBe('unauthorized');
    expect(await t.db.collection('attachments').countDocuments({ owner: 'erin' })).toBe(0);
  });
});
