import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signTestToken, testKeys } from '../../../test-support/index.js';
import { CHUNK_SIZE } from '../src/storage/content-store.js';
import { sha256, startAttachmentsApp, type TestApp } from './helpers.js';

let t: TestApp;
let alice: { authorization: string };
let bob: { authorization: string };

beforeAll(async () => {
  t = await startAttachmentsApp('attachments', { ATTACHMENTS_MAX_BYTES: String(8 * 1024 * 1024) });
  alice = await t.auth('alice');
  bob = await t.auth('bob');
});
afterAll(() => t.close());

function put(id: string, body: Buffer | string, headers: Record<string, string> = {}) {
  return t.app.inject({
    method: 'PUT',
    url: `/attachments/${id}`,
    headers: { ...alice, 'content-type': 'application/octet-stream', ...headers },
    payload: body,
  });
}

function get(id: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  return t.app.inject({ method, url: `/attachments/${id}`, headers: { ...alice, ...headers } });
}

describe('round trips', () => {
  const sizes = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * 1024 * 1024 + 123];
  for (const size of sizes) {
    it(`stores and returns ${size} bytes byte for byte`, async () => {
      const data = randomBytes(size);
      const id = `rt-${size}`;
      const before = await t.storedContent();
      const created = await put(id, data, { 'content-type': 'image/png' });
      expect(created.statusCode).toBe(201);
      expect(created.headers.location).toBe(`/attachments/${id}`);
      const body = created.json();
      expect(body).toEqual({
        id,
        size,
        contentType: 'image/png',
        sha256: sha256(data),
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      const after = await t.storedContent();
      expect(after.chunks - before.chunks).toBe(Math.ceil(size / CHUNK_SIZE));
      expect(after.files - before.files).toBe(1);

      const res = await get(id);
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.equals(data)).toBe(true);
      expect(res.headers['content-type']).toBe('image/png');
      expect(res.headers['content-length']).toBe(String(size));
      expect(res.headers.etag).toBe(`"${sha256(data)}"`);
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(res.headers['cache-control']).toBe('private');
    });
  }

  it('stores a JSON body as raw bytes, even when it is not valid JSON', async () => {
    const text = '{"title": "not closed", ';
    const res = await put('json-raw', text, { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(201);
    expect(res.json().contentType).toBe('application/json');
    const back = await get('json-raw');
    expect(back.body).toBe(text);
    expect(back.headers['content-type']).toBe('application/json');
  });

  it('defaults the content type to application/octet-stream', async () => {
    const res = await t.app.inject({
      method: 'PUT',
      url: '/attachments/no-type',
      headers: alice,
      payload: Buffer.from('abc'),
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().contentType).toBe('application/octet-stream');
    expect((await get('no-type')).headers['content-type']).toBe('application/octet-stream');
  });

  it('answers 200 with the same metadata for the same bytes, 409 for other bytes', async () => {
    const data = randomBytes(1000);
    const first = await put('again', data);
    expect(first.statusCode).toBe(201);
    const before = await t.storedContent();
    const second = await put('again', data, { 'content-type': 'text/plain' });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual(first.json());
    const other = await put('again', randomBytes(1000));
    expect(other.statusCode).toBe(409);
    expect(other.json().code).toBe('conflict');
    expect(await t.storedContent()).toEqual(before);
    expect((await get('again')).rawPayload.equals(data)).toBe(true);
  });
});

describe('integrity and limits', () => {
  it('accepts a matching x-content-sha256 in either case', async () => {
    const data = randomBytes(5000);
    const res = await put('digest-ok', data, { 'x-content-sha256': sha256(data).toUpperCase() });
    expect(res.statusCode).toBe(201);
  });

  it('refuses a digest mismatch with 400 and keeps no chunk', async () => {
    const data = randomBytes(CHUNK_SIZE * 2 + 10);
    const before = await t.storedContent();
    const res = await put('digest-bad', data, { 'x-content-sha256': sha256('other') });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'validation_failed' });
    expect(res.json().detail).toContain('x-content-sha256 does not match');
    expect(await t.storedContent()).toEqual(before);
    expect((await get('digest-bad')).statusCode).toBe(404);
  });

  it('refuses a malformed x-content-sha256 with 400', async () => {
    const res = await put('digest-malformed', 'x', { 'x-content-sha256': 'abc' });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('validation_failed');
  });

  it('refuses a body over the limit by Content-Length with 413 and keeps nothing', async () => {
    const before = await t.storedContent();
    const res = await put('too-big', Buffer.alloc(8 * 1024 * 1024 + 1));
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('payload_too_large');
    expect(await t.storedContent()).toEqual(before);
  });

  it('accepts a body of exactly the limit', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const res = await put('at-limit', data);
    expect(res.statusCode).toBe(201);
    expect(res.json().size).toBe(data.length);
    expect(
      (await t.app.inject({ method: 'DELETE', url: '/attachments/at-limit', headers: alice }))
        .statusCode,
    ).toBe(204);
  });
});

describe('concurrent uploads of one id', () => {
  it('lets one win with 201 and answers the others 200 for the same bytes', async () => {
    const data = randomBytes(CHUNK_SIZE * 3 + 7);
    const before = await t.storedContent();
    const results = await Promise.all([1, 2, 3, 4].map(() => put('race-same', data)));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([200, 200, 200, 201]);
    const after = await t.storedContent();
    expect(after.chunks - before.chunks).toBe(4);
    expect(after.files - before.files).toBe(1);
    expect((await get('race-same')).rawPayload.equals(data)).toBe(true);
  });

  it('lets one win with 201 and answers 409 to different bytes, never mixing them', async () => {
    const bodies = [1, 2, 3, 4].map(() => randomBytes(CHUNK_SIZE * 2 + 99));
    const before = await t.storedContent();
    const results = await Promise.all(bodies.map((b) => put('race-diff', b)));
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    const winner = bodies[results.findIndex((r) => r.statusCode === 201)] as Buffer;
    expect((await get('race-diff')).rawPayload.equals(winner)).toBe(true);
    const after = await t.storedContent();
    expect(after.chunks - before.chunks).toBe(3);
    expect(after.files - before.files).toBe(1);
  });
});

describe('ranges and conditional requests', () => {
  const size = CHUNK_SIZE * 2 + 100;
  const data = randomBytes(size);
  const etag = `"${sha256(data)}"`;
  beforeAll(async () => {
    expect((await put('ranged', data, { 'content-type': 'video/mp4' })).statusCode).toBe(201);
  });

  // The table of Range headers is test/unit/ranges.test.ts; here, what crosses the store's
  // chunks and the HTTP answer each kind gets.
  const partial: [string, number, number][] = [
    [`bytes=${CHUNK_SIZE - 5}-${CHUNK_SIZE + 5}`, CHUNK_SIZE - 5, CHUNK_SIZE + 5],
    [`bytes=${CHUNK_SIZE}-`, CHUNK_SIZE, size - 1],
    ['bytes=-100', size - 100, size - 1],
  ];
  for (const [range, start, end] of partial) {
    it(`serves ${range} as 206 with Content-Range`, async () => {
      const res = await get('ranged', { range });
      expect(res.statusCode).toBe(206);
      expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${size}`);
      expect(res.headers['content-length']).toBe(String(end - start + 1));
      expect(res.headers['content-type']).toBe('video/mp4');
      expect(res.headers.etag).toBe(etag);
      expect(res.rawPayload.equals(data.subarray(start, end + 1))).toBe(true);
    });
  }

  it('answers an unsatisfiable range with 416 and Content-Range: bytes */size', async () => {
    const res = await get('ranged', { range: `bytes=${size}-` });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe(`bytes */${size}`);
    expect(res.json().code).toBe('range_not_satisfiable');
  });

  it('ignores a range it does not serve (several ranges) and sends the whole file', async () => {
    const res = await get('ranged', { range: 'bytes=0-1,5-6' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-range']).toBeUndefined();
    expect(res.rawPayload.equals(data)).toBe(true);
  });

  it('answers any range of an empty file with 416, except a suffix', async () => {
    expect((await put('empty-ranged', Buffer.alloc(0))).statusCode).toBe(201);
    const res = await get('empty-ranged', { range: 'bytes=0-' });
    expect(res.statusCode).toBe(416);
    expect(res.headers['content-range']).toBe('bytes */0');
    const suffix = await get('empty-ranged', { range: 'bytes=-5' });
    expect(suffix.statusCode).toBe(200);
    expect(suffix.rawPayload.length).toBe(0);
  });

  it('answers a matching If-None-Match with 304, before any Range', async () => {
    const res = await get('ranged', { 'if-none-match': `W/${etag}`, range: 'bytes=0-1' });
    expect(res.statusCode).toBe(304);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers.etag).toBe(etag);
  });

  it('serves 200 when If-None-Match does not match', async () => {
    const res = await get('ranged', { 'if-none-match': '"0000", W/"1111"' });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.equals(data)).toBe(true);
  });

  it('honours If-Range only while the ETag matches', async () => {
    const kept = await get('ranged', { range: 'bytes=0-9', 'if-range': etag });
    expect(kept.statusCode).toBe(206);
    const stale = await get('ranged', { range: 'bytes=0-9', 'if-range': '"other"' });
    expect(stale.statusCode).toBe(200);
    expect(stale.rawPayload.length).toBe(size);
  });

  it('answers HEAD with the same headers and no body', async () => {
    const res = await get('ranged', {}, 'HEAD');
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(0);
    expect(res.headers['content-length']).toBe(String(size));
    expect(res.headers['content-type']).toBe('video/mp4');
    expect(res.headers.etag).toBe(etag);
    expect(res.headers['accept-ranges']).toBe('bytes');
    expect(res.headers['cache-control']).toBe('private');
    const ranged = await get('ranged', { range: 'bytes=-10' }, 'HEAD');
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes ${size - 10}-${size - 1}/${size}`);
    expect(ranged.headers['content-length']).toBe('10');
    expect((await get('missing', {}, 'HEAD')).statusCode).toBe(404);
  });
});

describe('delete and list', () => {
  it('deletes the attachment and its chunks, then answers 404', async () => {
    const data = randomBytes(CHUNK_SIZE * 2 + 1);
    expect((await put('doomed', data)).statusCode).toBe(201);
    const before = await t.storedContent();
    const res = await t.app.inject({
      method: 'DELETE',
      url: '/attachments/doomed',
      headers: alice,
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    const after = await t.storedContent();
    expect(before.chunks - after.chunks).toBe(3);
    expect(before.files - after.files).toBe(1);
    expect((await get('doomed')).statusCode).toBe(404);
    const again = await t.app.inject({
      method: 'DELETE',
      url: '/attachments/doomed',
      headers: alice,
    });
    expect(again.statusCode).toBe(404);
    expect(again.json().code).toBe('not_found');
    // The id is free again.
    expect((await put('doomed', randomBytes(10))).statusCode).toBe(201);
  });

  it('pages through the caller’s attachments by id with an opaque cursor', async () => {
    const carol = await t.auth('carol');
    const ids = ['c-5', 'c-1', 'c-3', 'c-2', 'c-4'];
    for (const id of ids) {
      const res = await t.app.inject({
        method: 'PUT',
        url: `/attachments/${id}`,
        headers: { ...carol, 'content-type': 'text/plain' },
        payload: id,
      });
      expect(res.statusCode).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `limit=2&cursor=${cursor}` : 'limit=2';
      const res = await t.app.inject({
        method: 'GET',
        url: `/attachments?${query}`,
        headers: carol,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.attachments.length).toBeLessThanOrEqual(2);
      for (const a of body.attachments) {
        expect(Object.keys(a).sort()).toEqual(['contentType', 'createdAt', 'id', 'sha256', 'size']);
        seen.push(a.id);
      }
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual(['c-1', 'c-2', 'c-3', 'c-4', 'c-5']);
    expect(pages).toBe(3);

    const all = await t.app.inject({ method: 'GET', url: '/attachments', headers: carol });
    expect(all.json().attachments).toHaveLength(5);
    expect(all.json().nextCursor).toBeNull();
    const exact = await t.app.inject({
      method: 'GET',
      url: '/attachments?limit=5',
      headers: carol,
    });
    expect(exact.json().nextCursor).toBeNull();
    const dave = await t.app.inject({
      method: 'GET',
      url: '/attachments',
      headers: await t.auth('dave'),
    });
    expect(dave.json()).toEqual({ attachments: [], nextCursor: null });
  });

  const badQueries = [
    'limit=0',
    'limit=1001',
    'limit=abc',
    'limit=2.5',
    'cursor=',
    'cursor=!!!',
    `cursor=${Buffer.from('{"$gt":""}').toString('base64url')}`,
    `cursor=${Buffer.from('a1:../x').toString('base64url')}`,
    `cursor=${'A'.repeat(300)}`,
    'cursor=YTE6',
  ];
  for (const query of badQueries) {
    it(`answers GET /attachments?${query.slice(0, 30)} with 400`, async () => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/attachments?${query}`,
        headers: alice,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    });
  }
});

describe('isolation between users', () => {
  it('answers another user’s attachment exactly like a missing one', async () => {
    expect((await put('private', 'alice only')).statusCode).toBe(201);
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
      const theirs = await t.app.inject({ method, url: '/attachments/private', headers: bob });
      const missing = await t.app.inject({
        method,
        url: '/attachments/private-nope',
        headers: bob,
      });
      expect(theirs.statusCode).toBe(404);
      expect(missing.statusCode).toBe(404);
      if (method !== 'HEAD') {
        expect(theirs.json().detail.replace('private', 'X')).toBe(
          missing.json().detail.replace('private-nope', 'X'),
        );
      }
    }
    expect((await get('private')).body).toBe('alice only');
  });

  it('gives another user the same id as a file of their own', async () => {
    const res = await t.app.inject({
      method: 'PUT',
      url: '/attachments/private',
      headers: { ...bob, 'content-type': 'text/plain' },
      payload: 'bob’s own',
    });
    expect(res.statusCode).toBe(201);
    const bobs = await t.app.inject({ method: 'GET', url: '/attachments/private', headers: bob });
    expect(bobs.body).toBe('bob’s own');
    expect((await get('private')).body).toBe('alice only');
  });
});

describe('hostile input', () => {
  const ids = [
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    'a%2Fb',
    'a/b',
    '..',
    'x'.repeat(129),
    'x'.repeat(600),
    '%00',
    'a%20b',
    '%ZZ',
    '%C0%AE',
    '$where',
  ];
  for (const id of ids) {
    it(`answers id ${id.slice(0, 24)} with 400 or 404, never 5xx`, async () => {
      for (const method of ['GET', 'HEAD', 'DELETE', 'PUT'] as const) {
        const res = await t.app.inject({
          method,
          url: `/attachments/${id}`,
          headers: alice,
          ...(method === 'PUT' ? { payload: 'x' } : {}),
        });
        expect([400, 404]).toContain(res.statusCode);
      }
    });
  }

  it('answers an unparsable Content-Type with 415 and keeps nothing', async () => {
    const before = await t.storedContent();
    const res = await put('bad-type', 'x', { 'content-type': 'not a type' });
    expect(res.statusCode).toBe(415);
    expect(await t.storedContent()).toEqual(before);
  });
});

describe('tokens', () => {
  it('refuses a missing, malformed, forged, expired or foreign token with 401', async () => {
    const other = await testKeys('test-key-1');
    const cases: [Record<string, string>, string][] = [
      [{}, 'unauthorized'],
      [{ authorization: 'Basic abc' }, 'unauthorized'],
      [{ authorization: `Bearer ${await signTestToken(other, { sub: 'alice' })}` }, 'unauthorized'],
      [
        {
          authorization: `Bearer ${await signTestToken(t.keys, { sub: 'alice', expiresIn: -10 })}`,
        },
        'token_expired',
      ],
      [
        { authorization: `Bearer ${await signTestToken(t.keys, { sub: 'alice', aud: 'other' })}` },
        'unauthorized',
      ],
    ];
    const before = await t.storedContent();
    for (const [headers, code] of cases) {
      for (const [method, url] of [
        ['PUT', '/attachments/tok'],
        ['GET', '/attachments/tok'],
        ['HEAD', '/attachments/tok'],
        ['DELETE', '/attachments/tok'],
        ['GET', '/attachments'],
        ['GET', '/storage/qiniu/token?key=a'],
      ] as const) {
        const res = await t.app.inject({
          method,
          url,
          headers,
          ...(method === 'PUT' ? { payload: randomBytes(CHUNK_SIZE + 1) } : {}),
        });
        expect(res.statusCode, `${method} ${url}`).toBe(401);
        if (method !== 'HEAD') expect(res.json().code).toBe(code);
      }
    }
    expect(await t.storedContent()).toEqual(before);
  });
});

describe('metrics', () => {
  it('counts uploads and bytes stored', async () => {
    const res = { body: await t.app.metrics.metrics() };
    expect(res.body).toMatch(/attachments_uploads_total\{[^}]*result="created"[^}]*\} [1-9]/);
    expect(res.body).toMatch(/attachments_uploads_total\{[^}]*result="conflict"[^}]*\} [1-9]/);
    expect(res.body).toMatch(/attachments_bytes_stored_total\{[^}]*\} [1-9]/);
    expect(res.body).toMatch(/attachments_bytes_served_total\{[^}]*\} [1-9]/);
  });
});
