import { randomBytes } from 'node:crypto';
import { type IncomingMessage, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../src/storage/content-store.js';
import { startAttachmentsApp, type TestApp } from './helpers.js';

// Real sockets to a listening app: client hang-ups and chunked bodies, which inject cannot fake.
const LIMIT = 1024 * 1024;
let t: TestApp;
let base: string;
let alice: { authorization: string };

beforeAll(async () => {
  t = await startAttachmentsApp('http_streaming', { ATTACHMENTS_MAX_BYTES: String(LIMIT) });
  base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  alice = await t.auth('alice');
});
afterAll(() => t.close());

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    res.on('data', (d: Buffer) => parts.push(d));
    res.on('end', () => resolve(Buffer.concat(parts)));
    res.on('error', reject);
  });
}

describe('uploads over real HTTP', () => {
  it('keeps nothing when the client hangs up mid-body', async () => {
    const req = request(`${base}/attachments/hangup`, {
      method: 'PUT',
      headers: { ...alice, 'content-type': 'application/octet-stream', 'content-length': LIMIT },
    });
    req.on('error', () => {});
    // Send about three chunks' worth, wait until the server has stored some, then vanish.
    for (let i = 0; i < 12; i += 1) req.write(randomBytes(64 * 1024));
    await until(async () => (await t.store.countChunks()) > 0);
    req.destroy();
    await until(async () => (await t.store.countChunks()) === 0);
    expect(await t.storedContent()).toEqual({ chunks: 0, files: 0 });
    const res = await t.app.inject({ method: 'GET', url: '/attachments/hangup', headers: alice });
    expect(res.statusCode).toBe(404);
    // The service keeps serving.
    const after = await t.app.inject({
      method: 'PUT',
      url: '/attachments/hangup',
      headers: alice,
      payload: Buffer.from('fine'),
    });
    expect(after.statusCode).toBe(201);
    await t.app.inject({ method: 'DELETE', url: '/attachments/hangup', headers: alice });
  });

  it('answers 413 when a chunked body crosses the limit mid-stream and keeps nothing', async () => {
    const before = await t.storedContent();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/attachments/chunked-too-big`, {
        method: 'PUT',
        headers: { ...alice, 'content-type': 'video/mp4', 'transfer-encoding': 'chunked' },
      });
      req.on('response', async (res) => {
        const body = JSON.parse((await readAll(res)).toString());
        expect(body.code).toBe('payload_too_large');
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      let sent = 0;
      const pump = () => {
        while (sent <= LIMIT + CHUNK_SIZE) {
          sent += 64 * 1024;
          if (!req.write(randomBytes(64 * 1024))) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    await until(async () => (await t.store.countChunks()) === before.chunks);
    expect(await t.storedContent()).toEqual(before);
  });

  it('stores a chunked body under the limit', async () => {
    const data = randomBytes(LIMIT - 1);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${base}/attachments/chunked-ok`, {
        method: 'PUT',
        headers: { ...alice, 'transfer-encoding': 'chunked' },
      });
      req.on('response', resolve);
      req.on('error', reject);
      for (let i = 0; i < data.length; i += 100_000) req.write(data.subarray(i, i + 100_000));
      req.end();
    });
    expect(res.statusCode).toBe(201);
    expect(JSON.parse((await readAll(res)).toString()).size).toBe(LIMIT - 1);
  });

  it('keeps serving after a client abandons a download half-way', async () => {
    const got = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/attachments/chunked-ok`, { headers: alice });
      req.on('response', (res) => {
        res.once('data', (d: Buffer) => {
          req.destroy();
          resolve(d.length);
        });
      });
      req.on('error', () => {});
      req.on('timeout', reject);
      req.end();
    });
    expect(got).toBeGreaterThan(0);
    const res = await t.app.inject({
      method: 'GET',
      url: '/attachments/chunked-ok',
      headers: alice,
    });
    expect(res.statusCode).toBe(200);
    expect(res.rawPayload.length).toBe(LIMIT - 1);
  });
});
