import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  type Reply,
  registerUser,
} from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * The hostile-input catalogue: every endpoint gets operator injection, prototype-pollution keys,
 * deep nesting, huge numbers, invalid UTF-8, wrong content types, empty and enormous bodies,
 * header injection in ids and keys, and slow bodies. Each must be a 4xx problem document, and
 * every process must still be up afterwards.
 */

let stack: TestStack;
let api: Client;
let user: Account;

beforeAll(async () => {
  stack = await startTestStack('hostile', {
    HTTP_IDLE_TIMEOUT_MS: '2000',
    QINIU_ACCESS_KEY: 'ak',
    QINIU_SECRET_KEY: 'sk-hostile',
    QINIU_BUCKET_NAME: 'b',
    QINIU_UPLOAD_DOMAIN: 'up.example.com',
    QINIU_DOWNLOAD_BASE_URL: 'dl.example.com',
  });
  api = client(stack.gateway);
  user = await registerUser(api, 'hostile');
});

afterAll(async () => {
  for (const url of Object.values(stack.urls)) {
    expect((await fetch(`${url}/health`)).status, `${url} is down after the catalogue`).toBe(200);
  }
  await stack.stop();
});

function expect4xx(res: Reply, what: string): void {
  expect(res.status, `${what}: ${res.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, what).toBeLessThan(500);
  expect(res.headers.get('content-type'), what).toMatch(/^application\/problem\+json/);
}

const jsonEndpoints: { path: string; auth: boolean; valid: Record<string, unknown> }[] = [
  {
    path: '/auth/register',
    auth: false,
    valid: { username: 'someone_new', password: 'long enough pw' },
  },
  { path: '/auth/login', auth: false, valid: { username: 'someone', password: 'long enough pw' } },
  { path: '/auth/refresh', auth: false, valid: { refreshToken: 'x'.repeat(43) } },
  { path: '/auth/logout', auth: true, valid: { allDevices: false } },
  {
    path: '/sync/push',
    auth: true,
    valid: { changes: [{ id: 'a', baseRevision: 0, content: {} }] },
  },
];

/** `{"a":{"a":…{}…}}` nested `depth` times, as text (JSON.stringify itself would overflow). */
function deep(depth: number): string {
  return `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}`;
}

describe('hostile JSON bodies on every JSON endpoint', () => {
  for (const ep of jsonEndpoints) {
    it(`${ep.path} refuses injection, pollution, nesting, huge numbers and bad bodies`, async () => {
      // A fresh session for each request: a logout that succeeds must not end the next one's.
      const token = async () => {
        if (!ep.auth) return undefined;
        const login = await api.post<{ accessToken: string }>('/auth/login', {
          username: user.username,
          password: user.password,
        });
        return login.body.accessToken;
      };
      const send = async (body: string, contentType = 'application/json') => {
        const t = await token();
        return api.call('POST', ep.path, {
          ...(t ? { token: t } : {}),
          body,
          headers: { 'content-type': contentType },
        });
      };
      const bodies: [string, string][] = [];
      for (const key of Object.keys(ep.valid)) {
        bodies.push([`operator in ${key}`, JSON.stringify({ ...ep.valid, [key]: { $gt: '' } })]);
        bodies.push([`array in ${key}`, JSON.stringify({ ...ep.valid, [key]: [{ $ne: null }] })]);
        bodies.push([
          `huge number in ${key}`,
          JSON.stringify({ ...ep.valid, [key]: 1e308 }).replace('1e+308', '1e999'),
        ]);
      }
      bodies.push([
        '__proto__',
        JSON.stringify(ep.valid).replace(/^\{/, '{"__proto__":{"admin":true},'),
      ]);
      bodies.push([
        'constructor.prototype',
        JSON.stringify({ ...ep.valid, constructor: { prototype: { admin: true } } }),
      ]);
      bodies.push([
        'deep nesting',
        JSON.stringify({ ...ep.valid, nested: 0 }).replace('0}', `${deep(5000)}}`),
      ]);
      bodies.push(['very deep nesting', `${'['.repeat(100_000)}${']'.repeat(100_000)}`]);
      bodies.push(['unknown field', JSON.stringify({ ...ep.valid, extra: 1 })]);
      bodies.push(['not an object', '"just a string"']);
      bodies.push(['null', 'null']);
      bodies.push(['empty', '']);
      bodies.push(['truncated', JSON.stringify(ep.valid).slice(0, -3)]);
      for (const [what, body] of bodies) {
        const res = await send(body);
        if (ep.path === '/auth/logout' && res.status === 204) continue; // logout ignores nothing harmful
        expect4xx(res, `${ep.path} ${what}`);
      }
      const utf8 = Buffer.concat([
        Buffer.from('{"username":"'),
        Buffer.from([0xff, 0xfe, 0xc3]),
        Buffer.from('","password":"x"}'),
      ]);
      const t = await token();
      const bad = await api.call('POST', ep.path, {
        ...(t ? { token: t } : {}),
        body: utf8,
        headers: { 'content-type': 'application/json' },
      });
      expect4xx(bad, `${ep.path} invalid UTF-8`);
      expect4xx(await send(JSON.stringify(ep.valid), 'text/plain'), `${ep.path} text/plain`);
      expect4xx(
        await send(JSON.stringify(ep.valid), 'application/x-www-form-urlencoded'),
        `${ep.path} form`,
      );
      const enormous = await send(
        JSON.stringify({ ...ep.valid, pad: 'x'.repeat(12 * 1024 * 1024) }),
      );
      expect(enormous.status, `${ep.path} enormous`).toBe(413);
    });
  }
});

describe('hostile ids, keys and headers', () => {
  const ids = [
    '..',
    '..%2F..%2Fetc%2Fpasswd',
    '%2e%2e',
    'a%0d%0aSet-Cookie:%20x=1',
    'a%00b',
    '%24gt',
    'x'.repeat(129),
    '%E0%A4%A',
    'a b',
  ];

  it('attachment ids with path and header tricks are 4xx', async () => {
    for (const id of ids) {
      for (const method of ['GET', 'HEAD', 'DELETE', 'PUT']) {
        const res = await api.call(method, `/attachments/${id}`, {
          token: user.accessToken,
          ...(method === 'PUT' ? { body: 'x', headers: { 'content-type': 'text/plain' } } : {}),
        });
        expect(res.status, `${method} ${id}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${method} ${id}`).toBeLessThan(500);
        expect(res.headers.get('set-cookie')).toBeNull();
      }
    }
  });

  it('query parameters with operators, arrays and junk are 4xx', async () => {
    for (const q of [
      'since[$gt]=',
      'since=1&since=2',
      'limit=1e9',
      'wait=-1',
      'since=0x10',
      'since=%00',
      'limit=abc',
    ]) {
      expect4xx(await api.get(`/sync/changes?${q}`, user.accessToken), `changes ?${q}`);
    }
    const operatorCursor = Buffer.from('{"$gt":""}').toString('base64url');
    for (const q of [
      'limit=0',
      'limit=99999',
      'limit[$gt]=1',
      'cursor=%%%',
      `cursor=${operatorCursor}`,
    ]) {
      expect4xx(await api.get(`/attachments?${q}`, user.accessToken), `attachments ?${q}`);
    }
    for (const key of ['..', '../a', '/a', 'a%0d%0ab', 'a%5Cb', 'x'.repeat(600)]) {
      expect4xx(
        await api.get(`/storage/qiniu/token?key=${key}`, user.accessToken),
        `token key ${key}`,
      );
    }
  });

  it('bad Idempotency-Key and digest headers are 4xx', async () => {
    const push = await api.post('/sync/push', { changes: [] }, user.accessToken, {
      'idempotency-key': 'x'.repeat(300),
    });
    expect4xx(push, 'long idempotency key');
    const put = await api.call('PUT', '/attachments/digest-test', {
      token: user.accessToken,
      body: 'abc',
      headers: { 'content-type': 'text/plain', 'x-content-sha256': 'not-hex' },
    });
    expect4xx(put, 'malformed digest');
  });
});

describe('slow bodies', () => {
  it('closes a connection whose body stalls', async () => {
    const { port } = new URL(stack.gateway);
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const started = Date.now();
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"username":',
        );
      });
      socket.on('data', () => {});
      socket.on('close', () => resolve(Date.now() - started));
      socket.on('error', () => {});
      setTimeout(() => reject(new Error('the server kept a stalled body open for 15 s')), 15_000);
    });
    expect(closedAfter).toBeLessThan(15_000);
  });
});
