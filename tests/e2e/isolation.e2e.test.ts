import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  type Reply,
  registerUser,
} from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

let stack: TestStack;
let api: Client;
let alice: Account;
let mallory: Account;
let aliceCursor = 0;
const secretBytes = randomBytes(4096);

beforeAll(async () => {
  stack = await startTestStack('e2e-iso', {
    QINIU_ACCESS_KEY: 'ak',
    QINIU_SECRET_KEY: 'sk-isolation',
    QINIU_BUCKET_NAME: 'b',
    QINIU_UPLOAD_DOMAIN: 'up.example.com',
  });
  api = client(stack.gateway);
  alice = await registerUser(api, 'alice');
  mallory = await registerUser(api, 'mallory');
  const pushed = await api.post<{ revision: number }>(
    '/sync/push',
    { changes: [{ id: 'diary-1', baseRevision: 0, content: { secret: 'alice-only' } }] },
    alice.accessToken,
  );
  aliceCursor = pushed.body.revision;
  const put = await api.call('PUT', '/attachments/alice-photo', {
    token: alice.accessToken,
    body: secretBytes,
    headers: { 'content-type': 'image/jpeg' },
  });
  expect(put.status).toBe(201);
});

afterAll(() => stack.stop());

/** The parts of a reply that could tell one user about another (ids of the request aside). */
function shape(r: Reply) {
  const {
    instance: _i,
    detail: _d,
    ...body
  } = (typeof r.body === 'object' ? r.body : { text: r.body }) as Record<string, unknown>;
  return { status: r.status, body };
}

describe("one user can't read, write or detect another user's data", () => {
  it("pulls never return another user's entries, whatever the cursor", async () => {
    for (const since of [0, aliceCursor - 1, aliceCursor]) {
      const res = await api.get<{ changes: unknown[] }>(
        `/sync/changes?since=${since}`,
        mallory.accessToken,
      );
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain('alice-only');
    }
  });

  it("pushes to another user's entry id create the pusher's own entry or conflict with nothing", async () => {
    const res = await api.post<{ conflicts: { current: unknown }[]; accepted: unknown[] }>(
      '/sync/push',
      { changes: [{ id: 'diary-1', baseRevision: aliceCursor, content: { overwritten: true } }] },
      mallory.accessToken,
    );
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).not.toContain('alice-only');
    expect(res.body.conflicts[0]?.current ?? null).toBeNull();
    const aliceView = await api.get<{ changes: { content: unknown }[] }>(
      '/sync/changes?since=0',
      alice.accessToken,
    );
    expect(aliceView.body.changes.map((e) => e.content)).toEqual([{ secret: 'alice-only' }]);
  });

  it("answers another user's attachment exactly like a missing one, for every method", async () => {
    for (const method of ['GET', 'HEAD', 'DELETE']) {
      const theirs = await api.call(method, '/attachments/alice-photo', {
        token: mallory.accessToken,
      });
      const missing = await api.call(method, '/attachments/no-such-photo', {
        token: mallory.accessToken,
      });
      expect(theirs.status, method).toBe(404);
      expect(shape(theirs)).toEqual(shape(missing));
    }
    const ranged = await api.call('GET', '/attachments/alice-photo', {
      token: mallory.accessToken,
      headers: { range: 'bytes=0-10', 'if-none-match': '*' },
    });
    expect(ranged.status).toBe(404);
    const list = await api.get('/attachments', mallory.accessToken);
    expect(list.text).not.toContain('alice-photo');
  });

  it("a PUT under another user's attachment id stores the caller's own file", async () => {
    const mine = Buffer.from('mallory bytes');
    const res = await api.call('PUT', '/attachments/alice-photo', {
      token: mallory.accessToken,
      body: mine,
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(201);
    const aliceCopy = await fetch(`${stack.gateway}/attachments/alice-photo`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    expect(Buffer.from(await aliceCopy.arrayBuffer()).equals(secretBytes)).toBe(true);
  });

  it("upload tokens stay inside the caller's namespace", async () => {
    const res = await api.get<{ key: string }>(
      `/storage/qiniu/token?key=${encodeURIComponent(`users/${alice.userId}/x.jpg`)}`,
      mallory.accessToken,
    );
    if (res.status === 200) expect(res.body.key.startsWith(`users/${mallory.userId}/`)).toBe(true);
    else expect(res.status).toBe(400);
  });

  it("sessions and logout never reach another user's sessions", async () => {
    const sessions = await api.get('/auth/sessions', mallory.accessToken);
    expect(sessions.status).toBe(200);
    expect(sessions.text).not.toContain(alice.userId);
    await api.call('POST', '/auth/logout', {
      token: mallory.accessToken,
      json: { allDevices: true },
    });
    expect((await api.get('/auth/me', alice.accessToken)).status).toBe(200);
  });

  it('a forged identity header changes nothing', async () => {
    const bob = await registerUser(api, 'bob');
    const res = await api.get('/sync/changes?since=0', bob.accessToken, {
      'x-user-id': alice.userId,
      'x-journal-user-id': alice.userId,
    });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('alice-only');
  });
});
