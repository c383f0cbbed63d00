import { createHash, randomBytes } from 'node:crypto';
import { JournalClient, MemoryTokenStore } from '@journal/client';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import {
  FaultProxy,
  hostPort,
  PASSWORD,
  type QiniuForm,
  startQiniuFormStandIn,
  uniqueUser,
} from './helpers.js';

let stack: TestStack;
let qiniu: Awaited<ReturnType<typeof startQiniuFormStandIn>>;
let qiniuForms: QiniuForm[];
beforeAll(async () => {
  qiniu = await startQiniuFormStandIn();
  qiniuForms = qiniu.forms;
  stack = await startTestStack('sdk-attachments', qiniu.env);
});
afterAll(async () => {
  await stack?.stop();
  qiniu?.close();
});

async function signedIn(label: string) {
  const tokenStore = new MemoryTokenStore();
  const client = new JournalClient({ baseUrl: stack.gateway, tokenStore });
  await client.auth.register({ username: uniqueUser(label), password: PASSWORD });
  return { client, tokenStore };
}

describe('attachments', () => {
  it('uploads with x-content-sha256, lists, and the same bytes again are the same attachment', async () => {
    const { client } = await signedIn('att');
    const bytes = randomBytes(200_000);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const a = await client.attachments.upload('photo-1', new Blob([bytes]), {
      contentType: 'image/jpeg',
    });
    expect(a).toMatchObject({
      id: 'photo-1',
      size: bytes.length,
      sha256: sha,
      contentType: 'image/jpeg',
    });
    expect(
      await client.attachments.upload('photo-1', new Blob([bytes]), { contentType: 'image/jpeg' }),
    ).toEqual(a);
    await expect(
      client.attachments.upload('photo-1', new Blob([randomBytes(10)])),
    ).rejects.toMatchObject({ code: 'conflict', status: 409 });
    expect(await client.attachments.list()).toEqual([a]);
    expect(await client.attachments.head('photo-1')).toMatchObject({
      size: bytes.length,
      sha256: sha,
    });
    const back = await client.attachments.download('photo-1');
    expect(Buffer.from(await back.arrayBuffer()).equals(bytes)).toBe(true);
    expect(back.type).toBe('image/jpeg');
    await expect(client.attachments.download('nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(client.attachments.upload('../x', new Blob(['x']))).rejects.toMatchObject({
      code: 'validation_failed',
    });
  });

  it('a download cut at half resumes with Range and the digest matches', async () => {
    const { client, tokenStore } = await signedIn('resume');
    const bytes = randomBytes(1024 * 1024);
    await client.attachments.upload('big', new Blob([bytes]), {
      contentType: 'application/octet-stream',
    });
    const proxy = await new FaultProxy(hostPort(stack.gateway), (n) =>
      n === 0 ? { downAfter: bytes.length / 2 } : undefined,
    ).listen();
    try {
      const through = new JournalClient({ baseUrl: proxy.url, tokenStore });
      const blob = await through.attachments.download('big');
      expect(proxy.cuts).toBe(1);
      expect(blob.size).toBe(bytes.length);
      expect(Buffer.from(await blob.arrayBuffer()).equals(bytes)).toBe(true);
      const gets = proxy.heads.filter((h) => h.startsWith('GET /attachments/big'));
      expect(gets).toHaveLength(2);
      expect(gets[0]).not.toMatch(/\r\nrange:/i);
      const range = /\r\nrange: bytes=(\d+)-\r\n/i.exec(gets[1] ?? '');
      expect(Number(range?.[1])).toBeGreaterThan(bytes.length / 2 - 2048);
      expect(Number(range?.[1])).toBeLessThanOrEqual(bytes.length / 2);
      expect(gets[1]).toMatch(/\r\nif-range: "[0-9a-f]{64}"/i);
    } finally {
      await proxy.close();
    }
  });

  it('uploads straight to Qiniu with a token for a key in the user’s namespace', async () => {
    const { client } = await signedIn('qiniu');
    const me = await client.auth.me();
    const bytes = randomBytes(70_000);
    const result = await client.attachments.uploadToQiniu('videos/trip.mp4', new Blob([bytes]), {
      contentType: 'video/mp4',
    });
    expect(result).toMatchObject({
      key: `users/${me.id}/videos/trip.mp4`,
      bucket: 'journal-test',
      reply: { key: `users/${me.id}/videos/trip.mp4`, hash: 'Fq-etag' },
    });
    const form = qiniuForms.at(-1);
    expect(form?.key).toBe(`users/${me.id}/videos/trip.mp4`);
    expect(String(form?.token)).toMatch(/^test-access-key:[^:]+:[^:]+$/);
    expect(form?.type).toBe('video/mp4');
    expect(form?.file.equals(bytes)).toBe(true);
    await expect(
      client.attachments.uploadToQiniu('../escape', new Blob(['x'])),
    ).rejects.toMatchObject({ code: 'validation_failed', status: 400 });
  });

  it('exportAll: one zip with entries.json and attachments/<id>', async () => {
    const { client } = await signedIn('export');
    await client.entries.put('day-1', { title: 'first', attachments: ['pic'] });
    await client.entries.put('day-2', { title: 'second' });
    await client.sync.syncNow();
    await client.entries.delete('day-2');
    await client.entries.put('day-3', { title: 'unpushed' });
    const pic = randomBytes(50_000);
    await client.attachments.upload('pic', new Blob([pic]), { contentType: 'image/png' });
    const zip = await client.exportAll();
    expect(zip.type).toBe('application/zip');
    const files = unzipSync(new Uint8Array(await zip.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual([
      'attachments.json',
      'attachments/pic',
      'entries.json',
    ]);
    const entries = JSON.parse(new TextDecoder().decode(files['entries.json'])) as {
      id: string;
      content: unknown;
    }[];
    expect(entries.map((e) => [e.id, e.content])).toEqual([
      ['day-1', { title: 'first', attachments: ['pic'] }],
      ['day-3', { title: 'unpushed' }],
    ]);
    expect(Buffer.from(files['attachments/pic'] as Uint8Array).equals(pic)).toBe(true);
  });
});
