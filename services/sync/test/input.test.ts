import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signTestToken, testKeys } from '../../../test-support/index.js';
import type { SyncApp } from '../src/app.js';
import { bearer, type Harness, newUserId, pull, pullAll, push, syncHarness } from './helpers.js';

let h: Harness;
let app: SyncApp;
let token: string;

beforeAll(async () => {
  h = await syncHarness('sync_input');
  app = await h.build();
  token = await h.token(newUserId('hostile'));
});
afterAll(() => h.close());

function deep(depth: number): unknown {
  let v: unknown = { leaf: true };
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

async function rawPush(body: string, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/sync/push',
    headers: { ...bearer(token), 'content-type': 'application/json', ...headers },
    payload: body,
  });
}

function expectProblem(
  res: { statusCode: number; json: () => unknown; headers: object },
  status: number,
  code: string,
) {
  expect(res.statusCode).toBe(status);
  expect(res.json()).toMatchObject({ status, code });
}

describe('hostile and malformed input', () => {
  it('names the offending change in 400s: ids, types, content, depth, numbers', async () => {
    // The whole table of refused push bodies is shared/test/unit/sync-schemas.test.ts; here,
    // that the service answers them as 400 problems naming the change, and stores nothing.
    const cases: [unknown[], string][] = [
      [[{ id: { $gt: '' }, baseRevision: 0, content: {} }], 'changes.0.id'],
      [
        [
          { id: 'ok', baseRevision: 0, content: {} },
          { id: 'b', baseRevision: 'zero', content: {} },
        ],
        'changes.1.baseRevision',
      ],
      [[{ id: 'b', baseRevision: 0, content: deep(33) }], 'changes.0.content'],
      [[{ id: 'b', baseRevision: 0, content: {}, extra: 1 }], 'changes.0'],
    ];
    for (const [changes, path] of cases) {
      const { res } = await push(app, token, changes);
      expect(res.statusCode, `${path}: ${res.body}`).toBe(400);
      const body = res.json() as { code: string; errors: { path: string; message: string }[] };
      expect(body.code).toBe('validation_failed');
      expect(
        body.errors.map((e) => e.path),
        res.body,
      ).toContain(path);
    }
    expect((await pull(app, token)).body.changes).toEqual([]);
  });

  it('accepts content 32 levels deep and refuses non-finite numbers (1e999)', async () => {
    expect(
      (await push(app, token, [{ id: 'deep32', baseRevision: 0, content: deep(32) }])).res
        .statusCode,
    ).toBe(200);
    const res = await rawPush('{"changes":[{"id":"inf","baseRevision":0,"content":{"n":1e999}}]}');
    expectProblem(res, 400, 'validation_failed');
    expect(res.body).toContain('changes.0.content');
  });

  it('refuses content over 1 MiB naming the change, 501 changes, and bodies over 10 MiB', async () => {
    const big = await push(app, token, [
      { id: 'fine', baseRevision: 0, content: { body: 'x'.repeat(1000) } },
      { id: 'big', baseRevision: 0, content: { body: 'x'.repeat(1024 * 1024) } },
    ]);
    expectProblem(big.res, 400, 'validation_failed');
    expect(big.res.json().errors[0].path).toBe('changes.1.content');
    const many = Array.from({ length: 501 }, (_, i) => ({
      id: `m${i}`,
      baseRevision: 0,
      content: {},
    }));
    const tooMany = await push(app, token, many);
    expectProblem(tooMany.res, 400, 'validation_failed');
    expect(tooMany.res.json().errors[0].path).toBe('changes');
    const enormous = await rawPush(
      JSON.stringify({ changes: [], pad: 'x'.repeat(11 * 1024 * 1024) }),
    );
    expectProblem(enormous, 413, 'payload_too_large');
    // Just under 10 MiB of legal content (10 entries of ~0.9 MiB) is accepted.
    const nearLimit = Array.from({ length: 10 }, (_, i) => ({
      id: `n${i}`,
      baseRevision: 0,
      content: { b: 'y'.repeat(1000 * 1000) },
    }));
    expect((await push(app, token, nearLimit)).res.statusCode).toBe(200);
  });

  it('refuses __proto__ and constructor.prototype, unknown fields, non-JSON and bad JSON', async () => {
    expectProblem(
      await rawPush(
        '{"changes":[{"id":"p","baseRevision":0,"content":{"__proto__":{"admin":true}}}]}',
      ),
      400,
      'invalid_json',
    );
    expectProblem(await rawPush('{"__proto__":{"x":1},"changes":[]}'), 400, 'invalid_json');
    const ctor = await rawPush(
      '{"changes":[{"id":"p","baseRevision":0,"content":{"constructor":{"prototype":{"admin":true}}}}]}',
    );
    expect(ctor.statusCode).toBe(400);
    expectProblem(await rawPush('{"changes":[],"extra":1}'), 400, 'validation_failed');
    expectProblem(await rawPush('{"changes":'), 400, 'invalid_json');
    expectProblem(await rawPush('null'), 400, 'validation_failed');
    expectProblem(await rawPush('{"changes":{"$gt":""}}'), 400, 'validation_failed');
    const text = await rawPush('x', { 'content-type': 'text/plain' });
    expect([400, 415]).toContain(text.statusCode);
    expect(text.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect({} as Record<string, unknown>).not.toHaveProperty('admin');
  });

  it('stores keys that look like operators or paths as plain data', async () => {
    const content = {
      $gt: '',
      'a.b': { $where: 'sleep(1000)' },
      $set: { revision: 999 },
      constructor: 'x',
    };
    const res = await push(app, token, [{ id: 'ops', baseRevision: 0, content }]);
    expect(res.res.statusCode, res.res.body).toBe(200);
    const entry = (await pullAll(app, token)).entries.find((e) => e.id === 'ops');
    expect(entry?.content).toEqual(content);
  });

  it('refuses operators, arrays, junk and out-of-range values in the query', async () => {
    // The table of refused queries is shared/test/unit/sync-schemas.test.ts; here, what the
    // query-string parser makes of operators and repeated keys.
    for (const q of ['since[$gt]=0', 'since=1&since=2', 'since=%00', 'limit=10001', 'other=1']) {
      const res = await app.inject({
        method: 'GET',
        url: `/sync/changes?${q}`,
        headers: bearer(token),
      });
      expect(res.statusCode, q).toBe(400);
      expect(res.json().code, q).toBe('validation_failed');
    }
    const ok = await app.inject({
      method: 'GET',
      url: '/sync/changes?since=0&limit=1000&wait=0',
      headers: bearer(token),
    });
    expect(ok.statusCode).toBe(200);
  });

  it('validates Idempotency-Key and deviceId', async () => {
    for (const key of ['x'.repeat(129), 'has space', 'semi;colon', 'ü']) {
      const { res } = await push(app, token, [], { headers: { 'idempotency-key': key } });
      expect(res.statusCode, key).toBe(400);
    }
    const long = await push(app, token, [], { deviceId: 'd'.repeat(129) });
    expect(long.res.statusCode).toBe(400);
    const ctl = await push(app, token, [], { deviceId: 'a\u0001b' });
    expect(ctl.res.statusCode).toBe(400);
  });

  it('needs a valid bearer token for every call', async () => {
    const foreign = await signTestToken(await testKeys('other-kid'), { sub: 'intruder' });
    const expired = await signTestToken(h.keys, { sub: 'late', expiresIn: -10 });
    const wrongAud = await signTestToken(h.keys, { sub: 'x', aud: 'elsewhere' });
    for (const headers of [
      {},
      bearer('garbage'),
      bearer(foreign),
      bearer(expired),
      bearer(wrongAud),
      { 'x-user-id': 'someone' },
    ]) {
      const get = await app.inject({ method: 'GET', url: '/sync/changes', headers });
      expect(get.statusCode).toBe(401);
      const post = await app.inject({
        method: 'POST',
        url: '/sync/push',
        headers,
        payload: { changes: [] },
      });
      expect(post.statusCode).toBe(401);
    }
  });
});

describe('users are kept apart', () => {
  it("user B can never read or overwrite user A's entries; the same id gives B its own entry", async () => {
    const a = await h.token(newUserId('a'));
    const bId = newUserId('b');
    const b = await h.token(bId);
    await push(app, a, [{ id: 'shared-id', baseRevision: 0, content: { owner: 'a' } }]);
    await push(app, a, [{ id: 'only-a', baseRevision: 0, content: { owner: 'a' } }]);
    // B's view: nothing of A, whatever the cursor.
    for (const q of ['since=0', 'since=1', 'since=0&limit=1000']) {
      expect((await pull(app, b, q)).body.changes).toEqual([]);
    }
    // B pushing A's ids: base 0 creates B's own entries; A's revision as base conflicts with nothing.
    const own = await push(app, b, [{ id: 'shared-id', baseRevision: 0, content: { owner: 'b' } }]);
    expect(own.body.accepted).toEqual([{ id: 'shared-id', revision: 1 }]);
    const overwrite = await push(app, b, [
      { id: 'only-a', baseRevision: 2, content: { owner: 'b' } },
    ]);
    expect(overwrite.body.conflicts).toEqual([
      { id: 'only-a', reason: 'revision_mismatch', current: null },
    ]);
    const del = await push(app, b, [{ id: 'only-a', baseRevision: 2, deleted: true }]);
    expect(del.body.conflicts[0]?.current).toBeNull();
    const aView = (await pull(app, a)).body.changes;
    expect(aView.map((e) => [e.id, e.content])).toEqual([
      ['shared-id', { owner: 'a' }],
      ['only-a', { owner: 'a' }],
    ]);
    expect((await pull(app, b)).body.changes.map((e) => [e.id, e.content])).toEqual([
      ['shared-id', { owner: 'b' }],
    ]);
    // A forged identity header changes nothing: the token decides.
    const forged = await app.inject({
      method: 'GET',
      url: '/sync/changes?since=0',
      headers: { ...bearer(b), 'x-user-id': 'a' },
    });
    expect(forged.json().changes.map((e: { content: unknown }) => e.content)).toEqual([
      { owner: 'b' },
    ]);
    expect(bId).toBeTruthy();
  });
});
