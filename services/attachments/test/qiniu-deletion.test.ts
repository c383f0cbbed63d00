import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAccountDeletions } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAttachmentsApp, type TestApp } from './helpers.js';

const AK = 'deletion-access-key';
const SK = 'deletion-secret-key-0123456789';
const BUCKET = 'journal-deletion';

/**
 * A local stand-in of Qiniu's resource-management API (`POST /list` of rsf, `POST /batch` of
 * rs) holding a bucket in memory. Like Qiniu it refuses a request whose `Authorization` is not
 * a valid "Qiniu <AK>:<sign>" signature made with the bucket owner's secret key.
 */
function qiniuStandIn() {
  const objects = new Set<string>();
  const requests: { path: string; verified: boolean; ops: number }[] = [];

  /** Qiniu's v2 request signature, recomputed from the request as it arrived. */
  function expectedSignature(req: IncomingMessage, body: string): string {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const contentType = req.headers['content-type'] ?? 'application/x-www-form-urlencoded';
    const host = req.headers.host ?? '';
    // The SDK (7.x) signs `Host: <host:port>:<port>` when the URL has an explicit port; on
    // Qiniu's real hosts (default ports) that is just the Host header.
    const port = host.includes(':') ? host.slice(host.lastIndexOf(':') + 1) : '';
    let data = `${req.method} ${url.pathname}${url.search}\nHost: ${host}${port ? `:${port}` : ''}`;
    data += `\nContent-Type: ${contentType}`;
    const qiniuHeaders = Object.entries(req.headers)
      .filter(([name]) => name.startsWith('x-qiniu-') && name.length > 'x-qiniu-'.length)
      .map(([name, value]) => [
        name
          .split('-')
          .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
          .join('-'),
        String(value),
      ])
      .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1))
      .map(([name, value]) => `${name}: ${value}`);
    if (qiniuHeaders.length > 0) data += `\n${qiniuHeaders.join('\n')}`;
    data += '\n\n';
    if (body && contentType !== 'application/octet-stream') data += body;
    const digest = createHmac('sha1', SK).update(data).digest('base64');
    return digest.replace(/\+/g, '-').replace(/\//g, '_');
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://placeholder');
      const verified =
        req.method === 'POST' &&
        req.headers.authorization === `Qiniu ${AK}:${expectedSignature(req, body)}`;
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      const record = { path: url.pathname, verified, ops: 0 };
      requests.push(record);
      if (!verified) return reply(401, { error: 'bad token' });
      if (url.pathname === '/list') {
        if (url.searchParams.get('bucket') !== BUCKET) return reply(631, { error: 'no bucket' });
        const prefix = url.searchParams.get('prefix') ?? '';
        const limit = Number(url.searchParams.get('limit') ?? 1000);
        const marker = url.searchParams.get('marker') ?? '';
        const keys = [...objects].filter((k) => k.startsWith(prefix) && k > marker).sort();
        const page = keys.slice(0, limit);
        return reply(200, {
          items: page.map((key) => ({ key, fsize: 1, hash: 'h', putTime: 1, mimeType: 'x' })),
          ...(keys.length > limit ? { marker: page.at(-1) } : {}),
        });
      }
      if (url.pathname === '/batch') {
        const ops = new URLSearchParams(body).getAll('op');
        record.ops = ops.length;
        if (ops.length > 1000) return reply(400, { error: 'too many ops' });
        const results = ops.map((op) => {
          const [, verb, entry] = op.split('/');
          const [bucket, ...key] = Buffer.from(entry ?? '', 'base64url')
            .toString('utf8')
            .split(':');
          if (verb !== 'delete' || bucket !== BUCKET) return { code: 400, data: {} };
          return objects.delete(key.join(':')) ? { code: 200 } : { code: 612, data: {} };
        });
        const allOk = results.every((r) => r.code === 200);
        return reply(allOk ? 200 : 298, results);
      }
      return reply(404, { error: 'no such api' });
    });
  });

  return {
    objects,
    requests,
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const standIn = qiniuStandIn();
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
    const result = await t.app.attachments.deletion.runOnce();
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
    const deletion = t.app.attachments.deletion;
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
    await expect(wrongKey.app.attachments.deletion.runOnce()).rejects.toThrow(/401/);
    expect(standIn.requests.length).toBeGreaterThan(0);
    expect(standIn.requests.every((r) => !r.verified)).toBe(true);
    expect([...standIn.objects]).toEqual(keys);
    expect(
      await wrongKey.db.collection('account_deletion_done').countDocuments({ userId: 'dave' }),
    ).toBe(0);
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
