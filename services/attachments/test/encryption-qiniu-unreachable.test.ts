import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTED_TYPE } from '../../../test-support/encryption.js';
import { startAttachmentsApp, type TestApp } from './helpers.js';

/**
 * Qiniu's callback for an end-to-end encrypted account when the plaintext object it reports
 * cannot be deleted (Qiniu's management API unreachable): the upload is still refused, and the
 * object is recorded, so `POST /attachments/encryption/finish` names it instead of plaintext
 * staying in the bucket unknown to the server (docs/encryption.md, "What the server refuses").
 */

const AK = 'unreachable-access-key';
const SK = 'unreachable-secret-key-0123456789';
const BUCKET = 'journal-unreachable';
const CALLBACK = '/storage/qiniu/callback';

/** A loopback port nothing listens on: every management call is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let t: TestApp;

beforeAll(async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  t = await startAttachmentsApp('attachments_encryption_unreachable', {
    QINIU_ACCESS_KEY: AK,
    QINIU_SECRET_KEY: SK,
    QINIU_BUCKET_NAME: BUCKET,
    QINIU_UPLOAD_DOMAIN: 'up-z2.qiniup.com',
    QINIU_CALLBACK_URL: `https://api.example.com${CALLBACK}`,
    QINIU_RS_HOST: url,
    QINIU_RSF_HOST: url,
  });
});
afterAll(() => t?.close());

const sign = (data: string) =>
  createHmac('sha1', SK).update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');

function callback(owner: string, name: string, mimeType: string) {
  const body = JSON.stringify({
    key: `users/${owner}/${name}`,
    fsize: 10,
    hash: 'FgJv0eFtq1yiZz-mGDTuYH3uNsxU',
    mimeType,
    bucket: BUCKET,
  });
  return t.app.inject({
    method: 'POST',
    url: CALLBACK,
    headers: {
      'content-type': 'application/json',
      authorization: `QBox ${AK}:${sign(`${CALLBACK}\n${body}`)}`,
    },
    payload: body,
  });
}

describe('the callback of an encrypted account when Qiniu cannot delete', () => {
  it('refuses the plaintext object, records it, and finish lists it', async () => {
    const owner = `sealed-${randomBytes(4).toString('hex')}`;
    await t.db
      .collection('account_encryption')
      .insertOne({ _id: owner, since: new Date() } as never);
    const headers = await t.auth(owner);

    const refused = await callback(owner, 'photo.jpg', 'image/jpeg');
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().code).toBe('encryption_required');
    const uploads = t.db.collection('qiniu_uploads');
    expect(
      await uploads.findOne({ owner }, { projection: { _id: 0, key: 1, mimeType: 1 } }),
    ).toEqual({ key: `users/${owner}/photo.jpg`, mimeType: 'image/jpeg' });
    // Counted like any recorded object, so the quota matches what the bucket holds.
    const usage = await t.app.inject({ url: '/storage/usage', headers });
    expect(usage.json().attachments.usage).toBe(1);

    // The encrypted type is recorded as before (no delete is attempted).
    expect((await callback(owner, 'photo.bin', ENCRYPTED_TYPE)).statusCode).toBe(200);

    const finish = await t.app.inject({
      method: 'POST',
      url: '/attachments/encryption/finish',
      headers,
    });
    expect(finish.statusCode, finish.body).toBe(409);
    expect(finish.json()).toMatchObject({
      code: 'plaintext_remaining',
      attachments: [],
      qiniuKeys: [`users/${owner}/photo.jpg`],
    });
  });
});
