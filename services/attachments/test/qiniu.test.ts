import { createHmac } from 'node:crypto';
import { loadConfig } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import { startAttachmentsApp, type TestApp } from './helpers.js';

const BASE_ENV = { MONGODB_URL: 'mongodb://m.invalid', REDIS_URL: 'redis://r.invalid' };

const AK = 'test-access-key';
const SK = 'test-secret-key-0123456789';
const QINIU_ENV = {
  QINIU_ACCESS_KEY: AK,
  QINIU_SECRET_KEY: SK,
  QINIU_BUCKET_NAME: 'journal-test',
  QINIU_UPLOAD_DOMAIN: 'up-z2.qiniup.com',
  QINIU_DOWNLOAD_BASE_URL: 'http://files.example.com/',
  QINIU_TOKEN_TTL_SECONDS: '600',
  QINIU_CALLBACK_URL: 'https://api.example.com/storage/qiniu/callback',
  ATTACHMENTS_MAX_BYTES: String(50 * 1024 * 1024),
};

/** Qiniu's URL-safe base64 of an HMAC-SHA1 (padding kept, as the SDK and Qiniu do). */
function sign(data: string, secret = SK): string {
  return createHmac('sha1', secret)
    .update(data)
    .digest('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

let t: TestApp;
let bare: TestApp;
let alice: { authorization: string };

beforeAll(async () => {
  [t, bare] = await Promise.all([
    startAttachmentsApp('qiniu', QINIU_ENV),
    startAttachmentsApp('qiniu_bare'),
  ]);
  alice = await t.auth('alice');
});
afterAll(() => Promise.all([t.close(), bare.close()]));

function token(key: string, app = t) {
  return app.app.inject({
    method: 'GET',
    url: `/storage/qiniu/token?key=${encodeURIComponent(key)}`,
    headers: alice,
  });
}

describe('upload tokens', () => {
  it('signs a put policy scoped to users/<userId>/<key>, insert-only, size-limited, short-lived', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await token('photos/2024/a.jpg');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.key).toBe('users/alice/photos/2024/a.jpg');
    expect(body.bucket).toBe('journal-test');
    expect(body.uploadUrl).toBe('https://up-z2.qiniup.com');

    const [ak, signature, encodedPolicy, ...rest] = body.token.split(':');
    expect(rest).toEqual([]);
    expect(ak).toBe(AK);
    // Recomputed offline: accessKey:urlsafe_base64(hmac_sha1(sk, encodedPolicy)):encodedPolicy
    expect(signature).toBe(sign(encodedPolicy));
    expect(signature).not.toBe(sign(encodedPolicy, 'another-secret'));
    const policy = JSON.parse(Buffer.from(encodedPolicy, 'base64url').toString('utf8'));
    expect(policy.scope).toBe('journal-test:users/alice/photos/2024/a.jpg');
    expect(policy.insertOnly).toBe(1);
    expect(policy.fsizeLimit).toBe(50 * 1024 * 1024);
    expect(policy.deadline).toBeGreaterThanOrEqual(before + 600);
    expect(policy.deadline).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    expect(body.expiresAt).toBe(new Date(policy.deadline * 1000).toISOString());
    expect(policy.callbackUrl).toBe(QINIU_ENV.QINIU_CALLBACK_URL);
    expect(policy.callbackBodyType).toBe('application/json');
  });

  it('accepts a 512-character key and unicode names', async () => {
    expect((await token('k'.repeat(512))).statusCode).toBe(200);
    const res = await token('日记/照片 1.jpg');
    expect(res.statusCode).toBe(200);
    expect(res.json().key).toBe('users/alice/日记/照片 1.jpg');
  });

  const badKeys = [
    '',
    '..',
    '../bob/x',
    'a/../../bob/x',
    'a..b',
    'a/..',
    '/etc/passwd',
    'a\\b',
    'a\u0000b',
    'line\nbreak',
    'tab\there',
    '\u007f',
    'k'.repeat(513),
  ];
  for (const key of badKeys) {
    it(`refuses key ${JSON.stringify(key).slice(0, 20)} with 400`, async () => {
      const res = await token(key);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    });
  }

  it('refuses a missing key with 400', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/storage/qiniu/token', headers: alice });
    expect(res.statusCode).toBe(400);
  });

  it('answers 503 storage_not_configured without Qiniu settings, and the rest works', async () => {
    const headers = await bare.auth('alice');
    for (const url of ['/storage/qiniu/token?key=a', '/storage/qiniu/url?key=a']) {
      const res = await bare.app.inject({ method: 'GET', url, headers });
      expect(res.statusCode).toBe(503);
      expect(res.json().code).toBe('storage_not_configured');
    }
    const callback = await bare.app.inject({
      method: 'POST',
      url: '/storage/qiniu/callback',
      headers: { 'content-type': 'application/json', authorization: 'QBox a:b' },
      payload: '{}',
    });
    expect(callback.statusCode).toBe(503);
    const put = await bare.app.inject({
      method: 'PUT',
      url: '/attachments/still-works',
      headers,
      payload: 'x',
    });
    expect(put.statusCode).toBe(201);
  });
});

describe('download URLs', () => {
  it('signs a private download URL for a key in the caller’s namespace', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/storage/qiniu/url?key=photos/a%20b.jpg',
      headers: alice,
    });
    expect(res.statusCode).toBe(200);
    const { url, key, expiresAt } = res.json();
    expect(key).toBe('users/alice/photos/a b.jpg');
    const deadline = Math.floor(Date.parse(expiresAt) / 1000);
    const base = `http://files.example.com/users/alice/photos/a%20b.jpg?e=${deadline}`;
    expect(url).toBe(`${base}&token=${AK}:${sign(base)}`);
    expect(deadline - Date.now() / 1000).toBeGreaterThan(590);
    expect(deadline - Date.now() / 1000).toBeLessThanOrEqual(600);
  });

  it('reads QINIU_DOWNLOAD_BASE_URL (a path prefix kept) and the older QINIU_DOWNLOAD_DOMAIN as an alias', async () => {
    const variants: [Record<string, string>, string][] = [
      [
        { QINIU_DOWNLOAD_BASE_URL: 'https://cdn.example.com/files/' },
        'https://cdn.example.com/files/',
      ],
      [{ QINIU_DOWNLOAD_BASE_URL: 'cdn.example.com' }, 'https://cdn.example.com/'],
      [{ QINIU_DOWNLOAD_DOMAIN: 'old.example.com' }, 'https://old.example.com/'],
      // Both set: the seed's name wins.
      [
        { QINIU_DOWNLOAD_BASE_URL: 'new.example.com', QINIU_DOWNLOAD_DOMAIN: 'old.example.com' },
        'https://new.example.com/',
      ],
    ];
    const { QINIU_DOWNLOAD_BASE_URL: _unused, ...withoutDownload } = QINIU_ENV;
    for (const [env, prefix] of variants) {
      const app = await startAttachmentsApp('qiniu-download-base', { ...withoutDownload, ...env });
      try {
        const res = await app.app.inject({
          method: 'GET',
          url: '/storage/qiniu/url?key=a.jpg',
          headers: await app.auth('alice'),
        });
        expect(res.statusCode, JSON.stringify(env)).toBe(200);
        expect(res.json().url, JSON.stringify(env)).toMatch(
          new RegExp(`^${prefix.replace(/[.]/g, '\\.')}users/alice/a\\.jpg\\?e=\\d+&token=${AK}:`),
        );
      } finally {
        await app.app.close();
      }
    }
    const none = await startAttachmentsApp('qiniu-download-none', withoutDownload);
    try {
      const res = await none.app.inject({
        method: 'GET',
        url: '/storage/qiniu/url?key=a.jpg',
        headers: await none.auth('alice'),
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: 'storage_not_configured' });
      expect(res.json().detail).toContain('QINIU_DOWNLOAD_BASE_URL');
    } finally {
      await none.app.close();
    }
  });

  it('refuses a download base URL with a query or a space', () => {
    for (const value of [
      'https://cdn.example.com/?x=1',
      'cdn example.com',
      'ftp://cdn.example.com',
    ])
      expect(
        () => loadConfig(configSchema, { ...BASE_ENV, QINIU_DOWNLOAD_BASE_URL: value }),
        value,
      ).toThrow(/QINIU_DOWNLOAD_BASE_URL/);
  });

  it('refuses keys that would leave the namespace', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/storage/qiniu/url?key=..%2Fbob%2Fsecret.jpg',
      headers: alice,
    });
    expect(res.statusCode).toBe(400);
  });
});

describe('upload callback', () => {
  const path = '/storage/qiniu/callback';
  const body = JSON.stringify({
    key: 'users/alice/photos/a.jpg',
    fsize: 1234,
    hash: 'FgJv0eFtq1yiZz-mGDTuYH3uNsxU',
    mimeType: 'image/jpeg',
    bucket: 'journal-test',
  });

  function callback(payload: string, authorization: string | undefined, type = 'application/json') {
    return t.app.inject({
      method: 'POST',
      url: path,
      headers: { 'content-type': type, ...(authorization ? { authorization } : {}) },
      payload,
    });
  }

  const recorded = (key: string) => t.db.collection('qiniu_uploads').findOne({ key });

  it('records the upload when the QBox signature is good (no bearer token needed)', async () => {
    const res = await callback(body, `QBox ${AK}:${sign(`${path}\n${body}`)}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      key: 'users/alice/photos/a.jpg',
      owner: 'alice',
      size: 1234,
      hash: 'FgJv0eFtq1yiZz-mGDTuYH3uNsxU',
      mimeType: 'image/jpeg',
    });
    expect(await recorded('users/alice/photos/a.jpg')).toMatchObject({
      owner: 'alice',
      size: 1234,
    });
  });

  it('accepts the newer "Qiniu" signature and form-encoded bodies', async () => {
    const form = 'key=users%2Fbob%2Fnote.txt&fsize=5&hash=Fxyz&mimeType=text%2Fplain';
    const type = 'application/x-www-form-urlencoded';
    const signed = `POST ${path}\nHost: api.example.com\nContent-Type: ${type}\n\n${form}`;
    const res = await callback(form, `Qiniu ${AK}:${sign(signed)}`, type);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ owner: 'bob', size: 5, mimeType: 'text/plain' });
  });

  it('refuses a bad, foreign, missing or replayed-with-other-body signature with 401', async () => {
    const tampered = body.replace('1234', '9999');
    const cases = [
      undefined,
      'QBox nonsense',
      `QBox ${AK}:${sign(`${path}\n${body}`, 'wrong-secret')}`,
      `QBox other-ak:${sign(`${path}\n${tampered}`)}`,
      `QBox ${AK}:${sign(`${path}\n${body}`)}`, // signature of the original body
      `Bearer ${sign('x')}`,
    ];
    for (const authorization of cases) {
      const res = await callback(tampered, authorization);
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.json().code).toBe('unauthorized');
    }
    expect((await recorded('users/alice/photos/a.jpg'))?.size).toBe(1234);
  });

  it('refuses signed bodies that are not JSON or name a key outside any user namespace', async () => {
    const broken = '{"key": ';
    const res = await callback(broken, `QBox ${AK}:${sign(`${path}\n${broken}`)}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_json');
    const outside = JSON.stringify({ key: 'public/x', fsize: 1, hash: 'h' });
    const res2 = await callback(outside, `QBox ${AK}:${sign(`${path}\n${outside}`)}`);
    expect(res2.statusCode).toBe(400);
    expect(res2.json().code).toBe('validation_failed');
    expect(await recorded('public/x')).toBeNull();
  });
});
