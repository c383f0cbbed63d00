import { JournalError } from '@journal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { countingFetch, eventually, newClient, PASSWORD, uniqueUser } from './helpers.js';

// The whole stack with small quotas: the gateway's GET /usage and the SDK's handling of 403.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('sdk-quota', {
    QUOTA_ENTRIES: '3',
    QUOTA_ENTRY_BYTES: '100000',
    QUOTA_ATTACHMENTS: '2',
    QUOTA_ATTACHMENT_BYTES: '1000',
  });
});
afterAll(async () => {
  await stack?.stop();
});

async function signedIn(label: string, options: Parameters<typeof newClient>[1] = {}) {
  const client = newClient(stack.gateway, options);
  await client.auth.register({ username: uniqueUser(label), password: PASSWORD });
  return client;
}

describe('GET /usage through the gateway', () => {
  it('answers usage against every quota, each user only their own', async () => {
    const a = await signedIn('usage_a');
    const b = await signedIn('usage_b');
    expect(await a.usage()).toEqual({
      entries: { usage: 0, limit: 3 },
      entryBytes: { usage: 0, limit: 100000 },
      attachments: { usage: 0, limit: 2 },
      attachmentBytes: { usage: 0, limit: 1000 },
    });
    await a.entries.put('one', { text: 'hello' });
    await a.sync.syncNow();
    await a.attachments.upload('pic', new Blob([new Uint8Array(300)]));
    const used = await a.usage();
    expect(used.entries.usage).toBe(1);
    expect(used.entryBytes.usage).toBe(JSON.stringify({ text: 'hello' }).length);
    expect(used.attachments).toEqual({ usage: 1, limit: 2 });
    expect(used.attachmentBytes).toEqual({ usage: 300, limit: 1000 });
    expect((await b.usage()).entries.usage).toBe(0);
    expect((await b.usage()).attachments.usage).toBe(0);
    await a.close();
    await b.close();
  });

  it('answers 401 without a token or with a bad one, and is listed in the served OpenAPI', async () => {
    const none = await fetch(`${stack.gateway}/usage`);
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await none.json()) as { code: string }).code).toBe('unauthorized');
    const bad = await fetch(`${stack.gateway}/usage`, {
      headers: { authorization: 'Bearer not.a.token' },
    });
    expect(bad.status).toBe(401);
    const doc = (await (await fetch(`${stack.gateway}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    expect(doc.paths['/usage']?.get?.operationId).toBe('getUsage');
    expect(doc.paths['/sync/usage']?.get?.operationId).toBe('getEntriesUsage');
    expect(doc.paths['/storage/usage']?.get?.operationId).toBe('getAttachmentsUsage');
  });

  it('refuses an upload over the quota with a typed quota_exceeded error', async () => {
    const a = await signedIn('upload_q');
    await a.attachments.upload('big', new Blob([new Uint8Array(800)]));
    const err = await a.attachments
      .upload('more', new Blob([new Uint8Array(300)]))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).status).toBe(403);
    expect((err as JournalError).code).toBe('quota_exceeded');
    expect((err as JournalError).quota).toEqual({
      quota: 'attachmentBytes',
      limit: 1000,
      usage: 800,
      requested: 300,
    });
    await a.attachments.delete('big');
    await a.attachments.upload('more', new Blob([new Uint8Array(300)]));
    expect((await a.usage()).attachmentBytes.usage).toBe(300);
    await a.close();
  });
});

describe('the sync engine over a quota', () => {
  it('keeps refused edits in the outbox without retrying them in a loop, pushes deletions, and sends the rest once room is made', async () => {
    const counting = countingFetch();
    const a = await signedIn('sync_q', { fetch: counting.fetch, sync: { waitSeconds: 1 } });
    const errors: Error[] = [];
    a.on('error', (e) => errors.push(e));
    for (const id of ['e1', 'e2', 'e3', 'e4']) await a.entries.put(id, { text: id });
    await a.sync.syncNow();
    // Three fit, one waits; the state says why.
    expect(await a.entries.pendingCount()).toBe(1);
    expect(a.sync.quotaExceeded?.code).toBe('quota_exceeded');
    expect(a.sync.quotaExceeded?.quota).toMatchObject({ quota: 'entries', limit: 3, usage: 3 });
    expect(errors.filter((e) => (e as JournalError).code === 'quota_exceeded')).toHaveLength(1);
    expect((await a.usage()).entries.usage).toBe(3);

    // Live, the held edit is not pushed again and again.
    a.sync.start();
    await eventually(() => a.sync.status === 'live');
    const pushes = counting.count('POST /sync/push');
    await new Promise((r) => setTimeout(r, 2500));
    expect(counting.count('POST /sync/push')).toBe(pushes);
    expect(await a.entries.pendingCount()).toBe(1);

    // A delete makes room: it goes, and so does the held entry.
    const held = (await a.entries.list()).find((e) => e.pending)?.id as string;
    const other = ['e1', 'e2', 'e3', 'e4'].find((id) => id !== held) as string;
    await a.entries.delete(other);
    await eventually(async () => (await a.entries.pendingCount()) === 0, 20_000);
    expect(a.sync.quotaExceeded).toBeUndefined();
    expect((await a.usage()).entries.usage).toBe(3);

    // Another device sees exactly the three entries: nothing was lost.
    const b = newClient(stack.gateway);
    await b.auth.login({ username: (await a.auth.me()).username, password: PASSWORD });
    await b.sync.syncNow();
    const ids = (await b.entries.list()).map((e) => e.id).sort();
    expect(ids).toEqual(['e1', 'e2', 'e3', 'e4'].filter((id) => id !== other));
    await a.close();
    await b.close();
  }, 60_000);
});
