import { createHmac, randomBytes } from 'node:crypto';
import { type IncomingMessage, request } from 'node:http';
import { quotaKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAttachmentsApp, type TestApp } from './helpers.js';

const KiB = 1024;
const AK = 'quota-access-key';
const SK = 'quota-secret-key';
const LIMITS = {
  QUOTA_ATTACHMENTS: '3',
  QUOTA_ATTACHMENT_BYTES: String(600 * KiB),
  ATTACHMENTS_MAX_BYTES: String(2048 * KiB),
  QINIU_ACCESS_KEY: AK,
  QINIU_SECRET_KEY: SK,
  QINIU_BUCKET_NAME: 'journal-test',
  QINIU_UPLOAD_DOMAIN: 'up-z2.qiniup.com',
  QINIU_CALLBACK_URL: 'https://api.example.com/storage/qiniu/callback',
};

let t: TestApp;
let base: string;
let users = 0;

beforeAll(async () => {
  t = await startAttachmentsApp('attachments_quota', LIMITS);
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
}, 60_000);
afterAll(() => t.close());

async function user() {
  users += 1;
  const userId = `quota-${users}-${Math.random().toString(36).slice(2, 8)}`;
  return { userId, auth: await t.auth(userId) };
}

function put(auth: { authorization: string }, id: string, body: Buffer) {
  return t.app.inject({
    method: 'PUT',
    url: `/attachments/${id}`,
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    payload: body,
  });
}

async function usage(auth: { authorization: string }) {
  const res = await t.app.inject({ method: 'GET', url: '/storage/usage', headers: auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Record<
    'attachments' | 'attachmentBytes',
    { usage: number; limit: number | null }
  >;
}

/** The user's attachments as the listing shows them. */
async function listed(auth: { authorization: string }) {
  const res = await t.app.inject({ method: 'GET', url: '/attachments?limit=1000', headers: auth });
  const items = res.json().attachments as { id: string; size: number }[];
  return {
    ids: items.map((a) => a.id).sort(),
    count: items.length,
    bytes: items.reduce((sum, a) => sum + a.size, 0),
  };
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('data', (d: Buffer) => parts.push(d));
    res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    res.on('error', reject);
  });
}

describe('attachments quotas', () => {
  it('refuses an upload past the attachments quota with 403 naming limit and usage, keeping nothing; a delete frees it', async () => {
    const { auth } = await user();
    for (const id of ['a1', 'a2', 'a3'])
      expect((await put(auth, id, Buffer.from(id))).statusCode).toBe(201);
    const content = await t.storedContent();
    const over = await put(auth, 'a4', Buffer.from('a4'));
    expect(over.statusCode, over.body).toBe(403);
    expect(over.json()).toMatchObject({
      status: 403,
      code: 'quota_exceeded',
      quota: 'attachments',
      limit: 3,
      usage: 3,
      requested: 1,
    });
    expect(await t.storedContent()).toEqual(content);
    expect(
      (await t.app.inject({ method: 'GET', url: '/attachments/a4', headers: auth })).statusCode,
    ).toBe(404);
    expect(await usage(auth)).toEqual({
      attachments: { usage: 3, limit: 3 },
      attachmentBytes: { usage: 6, limit: 600 * KiB },
    });

    // The same upload again (its reply was lost) is answered as before, not refused.
    const again = await put(auth, 'a3', Buffer.from('a3'));
    expect(again.statusCode, again.body).toBe(200);

    const del = await t.app.inject({ method: 'DELETE', url: '/attachments/a1', headers: auth });
    expect(del.statusCode).toBe(204);
    expect((await usage(auth)).attachments.usage).toBe(2);
    expect((await put(auth, 'a4', Buffer.from('a4'))).statusCode).toBe(201);
    expect((await listed(auth)).ids).toEqual(['a2', 'a3', 'a4']);
  });

  it('refuses an upload whose declared size passes the bytes quota before reading it, and accepts one that fills it exactly', async () => {
    const { auth } = await user();
    expect((await put(auth, 'big', randomBytes(400 * KiB))).statusCode).toBe(201);
    const content = await t.storedContent();
    const over = await put(auth, 'more', randomBytes(300 * KiB));
    expect(over.statusCode, over.body).toBe(403);
    expect(over.json()).toMatchObject({
      code: 'quota_exceeded',
      quota: 'attachmentBytes',
      limit: 600 * KiB,
      usage: 400 * KiB,
      requested: 300 * KiB,
    });
    expect(await t.storedContent()).toEqual(content);
    expect((await put(auth, 'rest', randomBytes(200 * KiB))).statusCode).toBe(201);
    expect((await usage(auth)).attachmentBytes).toEqual({ usage: 600 * KiB, limit: 600 * KiB });
  });

  it('enforces the bytes quota while streaming a body of undeclared size, removing what was written', async () => {
    const { auth } = await user();
    const content = await t.storedContent();
    const req = request(`${base}/attachments/streamed`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
    });
    req.on('error', () => {});
    const answered = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
    // Chunked: 5 × 200 KiB against 600 KiB; more than one GridFS chunk is written first.
    for (let i = 0; i < 5; i += 1) req.write(randomBytes(200 * KiB));
    req.end();
    const res = await answered;
    const body = JSON.parse(await readAll(res));
    expect(res.statusCode).toBe(403);
    expect(body).toMatchObject({ code: 'quota_exceeded', quota: 'attachmentBytes' });
    await expect.poll(() => t.storedContent()).toEqual(content);
    expect(await usage(auth)).toEqual({
      attachments: { usage: 0, limit: 3 },
      attachmentBytes: { usage: 0, limit: 600 * KiB },
    });
    // A streamed body that fits is kept and counted.
    const ok = request(`${base}/attachments/fits`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
    });
    const okAnswer = new Promise<IncomingMessage>((resolve) => ok.on('response', resolve));
    for (let i = 0; i < 3; i += 1) ok.write(randomBytes(100 * KiB));
    ok.end();
    const okRes = await okAnswer;
    await readAll(okRes);
    expect(okRes.statusCode).toBe(201);
    expect((await usage(auth)).attachmentBytes.usage).toBe(300 * KiB);
  });

  it('keeps concurrent uploads of one user within the quotas, with the counter equal to what is stored', async () => {
    const { userId, auth } = await user();
    await t.redis.del(quotaKey(userId, 'attachments'));
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => put(auth, `c${i}`, randomBytes(150 * KiB))),
    );
    const statuses = results.map((r) => r.statusCode);
    expect(
      statuses.every((s) => s === 201 || s === 403),
      statuses.join(),
    ).toBe(true);
    const stored = await listed(auth);
    expect(stored.count).toBe(statuses.filter((s) => s === 201).length);
    expect(stored.count).toBeLessThanOrEqual(3);
    expect(stored.bytes).toBeLessThanOrEqual(600 * KiB);
    expect(stored.count).toBe(3);
    expect(await usage(auth)).toEqual({
      attachments: { usage: stored.count, limit: 3 },
      attachmentBytes: { usage: stored.bytes, limit: 600 * KiB },
    });
  });

  it('rebuilds a counter lost from Redis exactly from the store', async () => {
    const { userId, auth } = await user();
    await put(auth, 'x1', randomBytes(10 * KiB));
    await put(auth, 'x2', randomBytes(20 * KiB));
    await t.app.inject({ method: 'DELETE', url: '/attachments/x1', headers: auth });
    const expected = await listed(auth);
    const redis = t.redis;
    expect(await redis.del(quotaKey(userId, 'attachments'))).toBe(1);
    expect(await usage(auth)).toEqual({
      attachments: { usage: expected.count, limit: 3 },
      attachmentBytes: { usage: expected.bytes, limit: 600 * KiB },
    });
  });
});

describe('Qiniu and the quotas', () => {
  const path = '/storage/qiniu/callback';
  function sign(data: string): string {
    return createHmac('sha1', SK)
      .update(data)
      .digest('base64')
      .replace(/\+/g, '-')
      .replace(/\//g, '_');
  }
  function callback(userId: string, key: string, fsize: number) {
    const body = JSON.stringify({
      key: `users/${userId}/${key}`,
      fsize,
      hash: 'FgJv0eFtq1yiZz-mGDTuYH3uNsxU',
      mimeType: 'image/jpeg',
      bucket: 'journal-test',
    });
    return t.app.inject({
      method: 'POST',
      url: path,
      headers: {
        'content-type': 'application/json',
        authorization: `QBox ${AK}:${sign(`${path}\n${body}`)}`,
      },
      payload: body,
    });
  }
  function policyOf(token: string): { fsizeLimit: number } {
    const encoded = token.split(':')[2] as string;
    return JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  }
  const token = (auth: { authorization: string }, key: string) =>
    t.app.inject({ method: 'GET', url: `/storage/qiniu/token?key=${key}`, headers: auth });

  it('limits a token to what is left of the bytes quota, counts reported objects once, and refuses tokens at the quota', async () => {
    const { userId, auth } = await user();
    const first = await token(auth, 'a.jpg');
    expect(first.statusCode, first.body).toBe(200);
    expect(policyOf(first.json().token).fsizeLimit).toBe(600 * KiB);

    expect((await put(auth, 'local', randomBytes(100 * KiB))).statusCode).toBe(201);
    expect((await callback(userId, 'a.jpg', 200 * KiB)).statusCode).toBe(200);
    // Qiniu retries a callback: counted once.
    expect((await callback(userId, 'a.jpg', 200 * KiB)).statusCode).toBe(200);
    expect(await usage(auth)).toEqual({
      attachments: { usage: 2, limit: 3 },
      attachmentBytes: { usage: 300 * KiB, limit: 600 * KiB },
    });
    const second = await token(auth, 'b.jpg');
    expect(policyOf(second.json().token).fsizeLimit).toBe(300 * KiB);

    expect((await callback(userId, 'b.jpg', 10 * KiB)).statusCode).toBe(200);
    const refused = await token(auth, 'c.jpg');
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json()).toMatchObject({
      code: 'quota_exceeded',
      quota: 'attachments',
      limit: 3,
      usage: 3,
    });
    // The recount sees Qiniu's objects too.
    await t.redis.del(quotaKey(userId, 'attachments'));
    expect((await usage(auth)).attachmentBytes.usage).toBe(310 * KiB);
  });
});

describe('GET /storage/usage', () => {
  it('answers each user their own usage, 401 without or with a bad token', async () => {
    const a = await user();
    const b = await user();
    await put(a.auth, 'one', Buffer.from('12345'));
    expect((await usage(a.auth)).attachmentBytes.usage).toBe(5);
    expect((await usage(b.auth)).attachments.usage).toBe(0);
    const none = await t.app.inject({ method: 'GET', url: '/storage/usage' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ code: 'unauthorized' });
    const bad = await t.app.inject({
      method: 'GET',
      url: '/storage/usage',
      headers: { authorization: 'Bearer x.y.z' },
    });
    expect(bad.statusCode).toBe(401);
  });

  it('does not shadow an attachment named "usage"', async () => {
    const { auth } = await user();
    expect((await put(auth, 'usage', Buffer.from('mine'))).statusCode).toBe(201);
    const res = await t.app.inject({ method: 'GET', url: '/attachments/usage', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('mine');
  });
});
