import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  expectNoSecretsIn,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

let stack: TestStack;
let api: Client;
let alice: Account;
let bob: Account;
const QINIU = {
  QINIU_ACCESS_KEY: 'test-access-key',
  QINIU_SECRET_KEY: 'test-secret-key-never-logged',
  QINIU_BUCKET_NAME: 'journal-test',
  QINIU_UPLOAD_DOMAIN: 'upload.example.com',
  QINIU_DOWNLOAD_BASE_URL: 'cdn.example.com',
};

beforeAll(async () => {
  stack = await startTestStack('e2e-att', QINIU);
  api = client(stack.gateway);
  alice = await registerUser(api, 'alice');
  bob = await registerUser(api, 'bob');
});

afterAll(async () => {
  expectNoSecretsIn(stack.logs(), [
    alice.password,
    alice.accessToken,
    bob.accessToken,
    QINIU.QINIU_SECRET_KEY,
  ]);
  await stack.stop();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const put = (who: Account, id: string, bytes: Buffer, headers: Record<string, string> = {}) =>
  api.call('PUT', `/attachments/${id}`, {
    token: who.accessToken,
    body: bytes,
    headers: { 'content-type': 'image/png', ...headers },
  });

describe('attachments through the gateway (docs/api.md)', () => {
  const bytes = randomBytes(600 * 1024 + 7);

  it('stores with 201, then 200 for the same bytes and 409 for other bytes', async () => {
    const created = await put(alice, 'photo-1', bytes, { 'x-content-sha256': sha(bytes) });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toEqual({
      id: 'photo-1',
      size: bytes.length,
      contentType: 'image/png',
      sha256: sha(bytes),
      createdAt: expect.any(String),
    });
    const again = await put(alice, 'photo-1', bytes);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(created.body);
    expectProblem(await put(alice, 'photo-1', randomBytes(10)), 409, 'conflict');
  });

  it('refuses a digest mismatch with 400', async () => {
    const res = await put(alice, 'bad-digest', randomBytes(1000), {
      'x-content-sha256': sha(Buffer.from('x')),
    });
    expect(res.status).toBe(400);
    expect((await api.get('/attachments/bad-digest', alice.accessToken)).status).toBe(404);
  });

  it('streams the bytes back with validators, ranges and 304', async () => {
    const res = await fetch(`${stack.gateway}/attachments/photo-1`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.equals(bytes)).toBe(true);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    const etag = res.headers.get('etag') as string;
    expect(etag).toContain(sha(bytes));

    const range = await fetch(`${stack.gateway}/attachments/photo-1`, {
      headers: { authorization: `Bearer ${alice.accessToken}`, range: 'bytes=10-19' },
    });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true);

    const suffix = await fetch(`${stack.gateway}/attachments/photo-1`, {
      headers: { authorization: `Bearer ${alice.accessToken}`, range: 'bytes=-5' },
    });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(bytes.length - 5))).toBe(
      true,
    );

    const unsatisfiable = await api.get('/attachments/photo-1', alice.accessToken, {
      range: `bytes=${bytes.length + 10}-`,
    });
    expectProblem(unsatisfiable, 416, 'range_not_satisfiable');

    const cached = await fetch(`${stack.gateway}/attachments/photo-1`, {
      headers: { authorization: `Bearer ${alice.accessToken}`, 'if-none-match': etag },
    });
    expect(cached.status).toBe(304);

    const head = await fetch(`${stack.gateway}/attachments/photo-1`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
  });

  it('serves bytes back under the media type they were stored with, never sniffed', async () => {
    // Binary bytes under a text media type (what the contract fuzzer sent): stored and served
    // as given, with nosniff so a browser never reinterprets them.
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00]);
    const stored = await put(alice, 'yaml-typed', png, { 'content-type': 'application/x-yaml' });
    expect(stored.status).toBe(201);
    expect(stored.body.contentType).toBe('application/x-yaml');
    const res = await fetch(`${stack.gateway}/attachments/yaml-typed`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
    expect(res.headers.get('content-type')).toBe('application/x-yaml');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Gone again, so the listing test below sees only its own attachments.
    expect(
      (await api.call('DELETE', '/attachments/yaml-typed', { token: alice.accessToken })).status,
    ).toBe(204);
  });

  it("answers 404 for another user's attachment exactly as for a missing one", async () => {
    const theirs = await api.get('/attachments/photo-1', bob.accessToken);
    const missing = await api.get('/attachments/never-existed', bob.accessToken);
    expectProblem(theirs, 404, 'not_found');
    expectProblem(missing, 404, 'not_found');
    expect(
      (await api.call('DELETE', '/attachments/photo-1', { token: bob.accessToken })).status,
    ).toBe(404);
    const list = await api.get<{ attachments: { id: string }[] }>('/attachments', bob.accessToken);
    expect(list.body.attachments.map((a) => a.id)).not.toContain('photo-1');
  });

  it('lists with a cursor and deletes', async () => {
    for (const id of ['l1', 'l2', 'l3'])
      expect((await put(alice, id, Buffer.from(id))).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let guard = 0; guard < 10; guard++) {
      const q: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
      const page = await api.get<{ attachments: { id: string }[]; nextCursor: string | null }>(
        `/attachments${q}`,
        alice.accessToken,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.attachments.map((a) => a.id));
      cursor = page.body.nextCursor;
      if (!cursor) break;
    }
    expect(seen.sort()).toEqual(['l1', 'l2', 'l3', 'photo-1']);
    expect((await api.call('DELETE', '/attachments/l1', { token: alice.accessToken })).status).toBe(
      204,
    );
    expectProblem(await api.get('/attachments/l1', alice.accessToken), 404, 'not_found');
  });

  it('gives Qiniu upload tokens scoped to the caller and refuses path tricks', async () => {
    const res = await api.get<{
      token: string;
      key: string;
      bucket: string;
      uploadUrl: string;
      expiresAt: string;
    }>('/storage/qiniu/token?key=photos/2026/a.jpg', alice.accessToken);
    expect(res.status, res.text).toBe(200);
    expect(res.body.key).toBe(`users/${alice.userId}/photos/2026/a.jpg`);
    expect(res.body.bucket).toBe('journal-test');
    expect(res.body.uploadUrl).toContain('upload.example.com');
    expect(new Date(res.body.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const policy = JSON.parse(
      Buffer.from(res.body.token.split(':')[2] as string, 'base64url').toString(),
    );
    expect(policy.scope).toBe(`journal-test:users/${alice.userId}/photos/2026/a.jpg`);
    for (const key of ['../x', '/abs', 'a/../../b', 'x'.repeat(513), 'a\u0000b', 'a\r\nb', '']) {
      expectProblem(
        await api.get(`/storage/qiniu/token?key=${encodeURIComponent(key)}`, alice.accessToken),
        400,
        'validation_failed',
      );
    }
  });

  it('refuses attachments calls without a token', async () => {
    expectProblem(await api.get('/attachments'), 401, 'unauthorized');
    expectProblem(await api.get('/storage/qiniu/token?key=a'), 401, 'unauthorized');
  });
});
