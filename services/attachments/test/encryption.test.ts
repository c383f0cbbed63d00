import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENCRYPTED_TYPE, encryptedFile } from '../../../test-support/encryption.js';
import { qiniuStandIn } from '../../../test-support/qiniu-stand-in.js';
import { startAttachmentsApp, type TestApp } from './helpers.js';

/**
 * The attachments service's part of end-to-end encryption (docs/encryption.md): once an account
 * has its encryption record, an upload of another Content-Type or without the encrypted file
 * format's magic is refused and nothing of it is kept; Qiniu tokens only allow the encrypted
 * type and the callback deletes any other; `POST /attachments/encryption/finish` lists what is
 * still in plaintext.
 */

const AK = 'e2e-access-key';
const SK = 'e2e-secret-key-0123456789';
const BUCKET = 'journal-e2e';
const CALLBACK = '/storage/qiniu/callback';

const standIn = qiniuStandIn({ accessKey: AK, secretKey: SK, bucket: BUCKET });
let t: TestApp;
let base: string;

beforeAll(async () => {
  const url = await standIn.listen();
  t = await startAttachmentsApp('attachments_encryption', {
    QINIU_ACCESS_KEY: AK,
    QINIU_SECRET_KEY: SK,
    QINIU_BUCKET_NAME: BUCKET,
    QINIU_UPLOAD_DOMAIN: 'up-z2.qiniup.com',
    QINIU_CALLBACK_URL: `https://api.example.com${CALLBACK}`,
    QINIU_RS_HOST: url,
    QINIU_RSF_HOST: url,
    ATTACHMENTS_MAX_BYTES: String(8 * 1024 * 1024),
  });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await t?.close();
  await standIn.close();
});

let counter = 0;
async function user(encrypted: boolean) {
  counter += 1;
  const userId = `e2e-user-${counter}-${randomBytes(3).toString('hex')}`;
  if (encrypted) await turnOn(userId);
  return { userId, headers: await t.auth(userId) };
}

/** What auth writes when the account's first key bundle is stored. */
async function turnOn(userId: string) {
  await t.db
    .collection('account_encryption')
    .insertOne({ _id: userId, since: new Date() } as never);
}

const put = (headers: Record<string, string>, id: string, type: string, payload: Buffer) =>
  t.app.inject({
    method: 'PUT',
    url: `/attachments/${id}`,
    headers: { ...headers, 'content-type': type },
    payload,
  });
const finish = (headers: Record<string, string>, payload?: unknown) =>
  t.app.inject({
    method: 'POST',
    url: '/attachments/encryption/finish',
    headers,
    ...(payload === undefined ? {} : { payload: payload as string }),
  });

/** Everything an upload could leave behind, for one owner and in the content store. */
async function leftovers(owner: string) {
  return {
    content: await t.storedContent(),
    metadata: await t.db.collection('attachments').countDocuments({ owner }),
    pending: await t.db.collection('attachments_pending').countDocuments({}),
    usage: (await t.app.inject({ url: '/storage/usage', headers: await t.auth(owner) })).json(),
  };
}

describe('uploads of an encrypted account', () => {
  it('plaintext is accepted before encryption is on; afterwards another type is refused, nothing kept', async () => {
    const { userId, headers } = await user(false);
    expect((await put(headers, 'before', 'image/png', randomBytes(1000))).statusCode).toBe(201);
    await turnOn(userId);
    const before = await leftovers(userId);
    for (const type of [
      'image/png',
      'application/octet-stream',
      `${ENCRYPTED_TYPE}; charset=utf-8`,
      ENCRYPTED_TYPE.toUpperCase(),
    ]) {
      // Even with the right bytes: the declared type is what the server stores and serves.
      const res = await put(headers, 'wrong-type', type, encryptedFile(4096));
      expect(res.statusCode, type).toBe(403);
      expect(res.json().code).toBe('encryption_required');
    }
    const missing = await t.app.inject({
      method: 'PUT',
      url: '/attachments/no-type',
      headers,
      payload: encryptedFile(100),
    });
    expect(missing.statusCode).toBe(403);
    expect(await leftovers(userId)).toEqual(before);
  });

  it('refuses the right type without the magic (short, empty, large), keeping nothing', async () => {
    const { userId, headers } = await user(true);
    const before = await leftovers(userId);
    const bodies = [
      Buffer.from('JRNLE2E'),
      Buffer.alloc(0),
      Buffer.from('JRNLE2E2 almost'),
      Buffer.concat([Buffer.from('jrnle2e1'), randomBytes(100)]),
      Buffer.concat([Buffer.from('PNG\r\n'), randomBytes(700_000)]),
    ];
    for (const body of bodies) {
      const res = await put(headers, 'bad-magic', ENCRYPTED_TYPE, body);
      expect(res.statusCode, `${body.length} bytes`).toBe(403);
      expect(res.json().code).toBe('encryption_required');
      expect(res.json().detail).toContain('JRNLE2E1');
    }
    expect(await leftovers(userId)).toEqual(before);
    const get = await t.app.inject({ url: '/attachments/bad-magic', headers });
    expect(get.statusCode).toBe(404);
  });

  it('refuses a large streamed body over real HTTP at its first bytes; the service keeps serving', async () => {
    const { userId, headers } = await user(true);
    const before = await leftovers(userId);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/attachments/streamed`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': ENCRYPTED_TYPE },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      // Chunked: the magic split over two writes, wrong in its last byte, then megabytes.
      req.write('JRNL');
      req.write('E2E2');
      for (let i = 0; i < 40; i += 1) req.write(randomBytes(64 * 1024));
      req.end();
    }).catch(() => 0);
    expect(status).toBe(403);
    expect(await leftovers(userId)).toEqual(before);
    const ok = await put(headers, 'after', ENCRYPTED_TYPE, encryptedFile(10));
    expect(ok.statusCode).toBe(201);
  });

  it('stores the encrypted type with the magic and serves it back byte for byte, ranges too', async () => {
    const { headers } = await user(true);
    const file = encryptedFile(600_000);
    const res = await put(headers, 'sealed', ENCRYPTED_TYPE, file);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({
      id: 'sealed',
      size: file.length,
      contentType: ENCRYPTED_TYPE,
    });
    // The same bytes again: the idempotent 200.
    expect((await put(headers, 'sealed', ENCRYPTED_TYPE, file)).statusCode).toBe(200);
    const whole = await t.app.inject({ url: '/attachments/sealed', headers });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-type']).toBe(ENCRYPTED_TYPE);
    expect(whole.rawPayload.equals(file)).toBe(true);
    for (const [range, start, end] of [
      ['bytes=0-7', 0, 7],
      ['bytes=261000-262000', 261_000, 262_000],
      ['bytes=-16', file.length - 16, file.length - 1],
    ] as const) {
      const part = await t.app.inject({
        url: '/attachments/sealed',
        headers: { ...headers, range },
      });
      expect(part.statusCode, range).toBe(206);
      expect(part.rawPayload.equals(file.subarray(start, end + 1)), range).toBe(true);
    }
    const head = await t.app.inject({ method: 'HEAD', url: '/attachments/sealed', headers });
    expect(head.headers['content-length']).toBe(String(file.length));
  });
});

describe('POST /attachments/encryption/finish', () => {
  it('answers 409 encryption_not_enabled without encryption, 401 without a token, 400 for a body', async () => {
    const { userId, headers } = await user(false);
    const res = await finish(headers);
    expect(res.statusCode).toBe(409);
    expect(res.json().code).toBe('encryption_not_enabled');
    expect((await finish({})).statusCode).toBe(401);
    expect((await finish({ authorization: 'Bearer forged.token.here' })).statusCode).toBe(401);
    await turnOn(userId);
    expect((await finish(headers, {})).json()).toEqual({});
    for (const body of [{ $gt: '' }, { all: true }, []]) {
      const bad = await finish(headers, body);
      expect(bad.statusCode, JSON.stringify(body)).toBe(400);
    }
  });

  it('lists plaintext attachments and Qiniu objects, and answers 200 once they are gone', async () => {
    const { userId, headers } = await user(false);
    const other = await user(false);
    await put(headers, 'photo-b', 'image/jpeg', randomBytes(300));
    await put(headers, 'photo-a', 'image/png', randomBytes(300));
    await put(other.headers, 'theirs', 'image/png', randomBytes(300));
    await turnOn(userId);
    await put(headers, 'sealed', ENCRYPTED_TYPE, encryptedFile(300));
    const uploads = t.db.collection('qiniu_uploads');
    const record = (key: string, mimeType: string | null) => ({
      key: `users/${userId}/${key}`,
      owner: userId,
      bucket: BUCKET,
      size: 10,
      hash: 'h',
      mimeType,
      uploadedAt: new Date(),
    });
    await uploads.insertMany([
      record('old.jpg', 'image/jpeg'),
      record('unknown', null),
      record('sealed.bin', ENCRYPTED_TYPE),
    ]);

    const listed = await finish(headers);
    expect(listed.statusCode, listed.body).toBe(409);
    expect(listed.json()).toMatchObject({
      code: 'plaintext_remaining',
      attachments: ['photo-a', 'photo-b'],
      qiniuKeys: [`users/${userId}/old.jpg`, `users/${userId}/unknown`],
    });
    for (const id of ['photo-a', 'photo-b']) {
      const del = await t.app.inject({ method: 'DELETE', url: `/attachments/${id}`, headers });
      expect(del.statusCode).toBe(204);
    }
    expect((await finish(headers)).json()).toMatchObject({
      attachments: [],
      qiniuKeys: [`users/${userId}/old.jpg`, `users/${userId}/unknown`],
    });
    await uploads.deleteMany({ owner: userId, mimeType: { $ne: ENCRYPTED_TYPE } });
    const done = await finish(headers);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({});
    // Another user's plaintext is neither listed nor touched.
    expect(
      (await t.app.inject({ url: '/attachments/theirs', headers: other.headers })).statusCode,
    ).toBe(200);
  });
});

/** Qiniu's URL-safe base64 of an HMAC-SHA1 (as in qiniu.test.ts). */
const sign = (data: string) =>
  createHmac('sha1', SK).update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');

describe('Qiniu for an encrypted account', () => {
  const policyOf = (token: string) =>
    JSON.parse(Buffer.from(token.split(':')[2] as string, 'base64url').toString('utf8'));

  it('upload tokens allow only the encrypted type, as declared (detectMime 0)', async () => {
    const plain = await user(false);
    const sealed = await user(true);
    const tokenOf = async (headers: Record<string, string>) => {
      const res = await t.app.inject({ url: '/storage/qiniu/token?key=a.bin', headers });
      expect(res.statusCode, res.body).toBe(200);
      return policyOf(res.json().token);
    };
    const open = await tokenOf(plain.headers);
    expect(open.mimeLimit).toBeUndefined();
    expect(open.detectMime).toBeUndefined();
    const restricted = await tokenOf(sealed.headers);
    expect(restricted).toMatchObject({ mimeLimit: ENCRYPTED_TYPE, detectMime: 0, insertOnly: 1 });
    expect(restricted.scope).toBe(`${BUCKET}:users/${sealed.userId}/a.bin`);
  });

  it('the callback deletes and refuses an object of another type; records the encrypted type', async () => {
    const sealed = await user(true);
    const plain = await user(false);
    const callback = (owner: string, name: string, mimeType: string) => {
      const body = JSON.stringify({
        key: `users/${owner}/${name}`,
        fsize: 10,
        hash: 'FgJv0eFtq1yiZz-mGDTuYH3uNsxU',
        mimeType,
        bucket: BUCKET,
      });
      standIn.objects.add(`users/${owner}/${name}`);
      return t.app.inject({
        method: 'POST',
        url: CALLBACK,
        headers: {
          'content-type': 'application/json',
          authorization: `QBox ${AK}:${sign(`${CALLBACK}\n${body}`)}`,
        },
        payload: body,
      });
    };
    const uploads = t.db.collection('qiniu_uploads');

    const refused = await callback(sealed.userId, 'photo.jpg', 'image/jpeg');
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json().code).toBe('encryption_required');
    expect(standIn.objects.has(`users/${sealed.userId}/photo.jpg`)).toBe(false);
    expect(await uploads.countDocuments({ owner: sealed.userId })).toBe(0);

    const kept = await callback(sealed.userId, 'photo.bin', ENCRYPTED_TYPE);
    expect(kept.statusCode, kept.body).toBe(200);
    expect(standIn.objects.has(`users/${sealed.userId}/photo.bin`)).toBe(true);
    expect(await uploads.countDocuments({ owner: sealed.userId })).toBe(1);
    // An account without encryption uploads any type, as before.
    expect((await callback(plain.userId, 'photo.jpg', 'image/jpeg')).statusCode).toBe(200);
    expect(standIn.objects.has(`users/${plain.userId}/photo.jpg`)).toBe(true);
  });
});
