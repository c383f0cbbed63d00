import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAttachmentsApp, type TestApp } from './helpers.js';

/** A stored file is never a page of the app's origin: an SVG with a script is a sandboxed download. */
let t: TestApp;
let alice: { authorization: string };

beforeAll(async () => {
  t = await startAttachmentsApp('download-headers');
  alice = await t.auth('alice');
});
afterAll(() => t.close());

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>';

describe('download headers', () => {
  it('serves every file as a sandboxed attachment, for GET, HEAD, ranges and 304', async () => {
    const put = await t.app.inject({
      method: 'PUT',
      url: '/attachments/evil-svg',
      headers: { ...alice, 'content-type': 'image/svg+xml' },
      payload: SVG,
    });
    expect(put.statusCode).toBe(201);
    const etag = put.json().sha256;
    for (const [method, extra, status] of [
      ['GET', {}, 200],
      ['HEAD', {}, 200],
      ['GET', { range: 'bytes=0-3' }, 206],
      ['GET', { 'if-none-match': `"${etag}"` }, 304],
    ] as const) {
      const res = await t.app.inject({
        method,
        url: '/attachments/evil-svg',
        headers: { ...alice, ...extra },
      });
      expect(res.statusCode, `${method} ${JSON.stringify(extra)}`).toBe(status);
      expect(res.headers['content-disposition']).toBe('attachment; filename="evil-svg"');
      expect(res.headers['content-security-policy']).toMatch(/^sandbox(;|$)/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers 404 without those headers mattering for another user or a path trick', async () => {
    const bob = await t.auth('bob');
    const other = await t.app.inject({ method: 'GET', url: '/attachments/evil-svg', headers: bob });
    expect(other.statusCode).toBe(404);
    const trick = await t.app.inject({
      method: 'GET',
      url: '/attachments/..%2Fevil-svg',
      headers: alice,
    });
    expect(trick.statusCode).toBeGreaterThanOrEqual(400);
    expect(trick.statusCode).toBeLessThan(500);
  });
});
