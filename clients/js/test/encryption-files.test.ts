import { createHash, randomBytes } from 'node:crypto';
import type { DecryptionError } from '@journal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { decryptFile, unlockWithPassphrase } from '../src/crypto/index.js';
import {
  accessToken,
  bytesOf,
  encryptedAccount,
  PASS1,
  sameBytes,
  signIn,
} from './encryption-helpers.js';
import { type QiniuForm, startQiniuFormStandIn } from './helpers.js';

/**
 * End-to-end encrypted attachments through the SDK (docs/encryption.md "Attachments: chunked
 * stream format"): a file of several 4 MiB chunks streamed up and read back whole and by
 * range (the header, then only the covering chunks), a stored file moved or cut short refused
 * as DecryptionError, and a Qiniu form upload encrypted alike.
 */

let stack: TestStack;
let qiniu: Awaited<ReturnType<typeof startQiniuFormStandIn>>;
let qiniuForms: QiniuForm[];
beforeAll(async () => {
  qiniu = await startQiniuFormStandIn();
  qiniuForms = qiniu.forms;
  stack = await startTestStack('sdk-e2e-files', qiniu.env);
});
afterAll(async () => {
  await stack?.stop();
  qiniu?.close();
});

const MiB = 1024 * 1024;

/** A fetch that records the Range header of every attachment download. */
function rangeRecorder(): { fetch: typeof fetch; ranges: string[] } {
  const ranges: string[] = [];
  const f = ((input: string | URL | Request, init?: RequestInit) => {
    const range = new Headers(init?.headers).get('range');
    if (/\/attachments\//.test(String(input)) && (init?.method ?? 'GET') === 'GET') {
      ranges.push(range ?? 'whole');
    }
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: f, ranges };
}

describe('end-to-end encrypted attachments', () => {
  it('a file of three chunks: streamed up, read whole, and by range chunk by chunk', async () => {
    const { username, a } = await encryptedAccount(stack.gateway, 'e2e-files');
    const plain = new Uint8Array(randomBytes(9 * MiB + 123));
    const meta = await a.attachments.upload('big', new Blob([plain]), {
      contentType: 'video/mp4',
      name: 'trip.mp4',
    });
    expect(meta.contentType).toBe('application/vnd.journal.encrypted');
    expect(meta.size).toBeGreaterThan(plain.length); // header and a tag per chunk

    const rec = rangeRecorder();
    const b = (await signIn(stack.gateway, username, { fetch: rec.fetch })).client;
    await b.encryption.unlock(PASS1);
    const whole = await b.attachments.download('big');
    expect(whole.type).toBe('video/mp4');
    expect(sameBytes(await bytesOf(whole), plain)).toBe(true);
    const file = await b.attachments.file('big');
    expect([file.type, file.name]).toEqual(['video/mp4', 'trip.mp4']);

    // A range inside chunk 1: the header, then that one chunk only.
    rec.ranges.length = 0;
    const start = 5 * MiB + 7;
    const part = await b.attachments.downloadRange('big', start, start + 999);
    expect(part).toEqual(plain.subarray(start, start + 1000));
    expect(rec.ranges).toHaveLength(2);
    expect(rec.ranges[0]).toBe(`bytes=0-${64 * 1024 + 12 - 1}`);
    const [from, to] = (rec.ranges[1] as string).slice(6).split('-').map(Number);
    expect((to as number) - (from as number) + 1).toBe(4 * MiB + 16);
    // Across the boundary of chunks 1 and 2, and the end clamped to the file.
    const edge = 8 * MiB - 10;
    expect(await b.attachments.downloadRange('big', edge, edge + 19)).toEqual(
      plain.subarray(edge, edge + 20),
    );
    expect(await b.attachments.downloadRange('big', plain.length - 5, plain.length + 100)).toEqual(
      plain.subarray(plain.length - 5),
    );
    await a.close();
    await b.close();
  });

  it('a stored file moved to another id, or cut short, is a DecryptionError, reported', async () => {
    const { username, a } = await encryptedAccount(stack.gateway, 'e2e-tamper');
    const { client: c, tokenStore: tokens } = await signIn(stack.gateway, username);
    await c.encryption.unlock(PASS1);
    const plain = new Uint8Array(randomBytes(4 * MiB + 5000));
    await c.attachments.upload('orig', new Blob([plain]), { contentType: 'image/jpeg' });
    const headers = { authorization: `Bearer ${accessToken(tokens)}` };
    const stored = new Uint8Array(
      await (await fetch(`${stack.gateway}/attachments/orig`, { headers })).arrayBuffer(),
    );
    const put = (id: string, bytes: Uint8Array) =>
      fetch(`${stack.gateway}/attachments/${id}`, {
        method: 'PUT',
        headers: {
          ...headers,
          'content-type': 'application/vnd.journal.encrypted',
          'x-content-sha256': createHash('sha256').update(bytes).digest('hex'),
        },
        body: bytes,
      });
    expect((await put('moved', stored)).status).toBe(201);
    // Cut at the end of the first chunk: what is left still looks like a whole file.
    const headerEnd = 12 + new DataView(stored.buffer, stored.byteOffset).getUint32(8);
    expect((await put('cut', stored.subarray(0, headerEnd + 4 * MiB + 16))).status).toBe(201);

    const reported: DecryptionError[] = [];
    c.on('decryptionFailed', (err) => reported.push(err));
    for (const id of ['moved', 'cut']) {
      await expect(c.attachments.download(id)).rejects.toMatchObject({
        code: 'decryption_failed',
        attachmentId: id,
      });
    }
    await expect(c.attachments.downloadRange('cut', 0, 10)).rejects.toMatchObject({
      code: 'decryption_failed',
    });
    expect(reported.map((e) => e.attachmentId)).toEqual(['moved', 'cut', 'cut']);
    expect(
      c.encryption
        .failures()
        .map((e) => e.attachmentId)
        .sort(),
    ).toEqual(['cut', 'moved']);
    expect(sameBytes(await bytesOf(await c.attachments.download('orig')), plain)).toBe(true);
    await a.close();
    await c.close();
  });

  it('a Qiniu form upload is encrypted alike, bound to its key', async () => {
    const { a, tokens } = await encryptedAccount(stack.gateway, 'e2e-qiniu');
    const plain = new Uint8Array(randomBytes(70_000));
    const result = await a.attachments.uploadToQiniu('videos/clip.mp4', new Blob([plain]), {
      contentType: 'video/mp4',
    });
    const form = qiniuForms.at(-1);
    expect(form?.key).toBe(result.key);
    expect(form?.type).toBe('application/vnd.journal.encrypted');
    expect(form?.file.subarray(0, 8).toString('latin1')).toBe('JRNLE2E1');
    expect(form?.file.includes(Buffer.from(plain.subarray(0, 64)))).toBe(false);
    const user = await a.auth.me();
    const bundle = (await (
      await fetch(`${stack.gateway}/auth/encryption`, {
        headers: { authorization: `Bearer ${accessToken(tokens)}` },
      })
    ).json()) as { bundle: Parameters<typeof unlockWithPassphrase>[1] };
    const keys = await unlockWithPassphrase(user.id, bundle.bundle, PASS1);
    const opened = await decryptFile(keys, 'videos/clip.mp4', new Blob([form?.file as Buffer]));
    expect(opened.meta.type).toBe('video/mp4');
    expect(sameBytes(await bytesOf(opened.blob), plain)).toBe(true);
    await a.close();
  });
});
