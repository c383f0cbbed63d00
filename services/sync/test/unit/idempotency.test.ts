import type { PushReply } from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { type Idempotency, withIdempotency } from '../../src/entries/idempotency.js';

/** The protocol around a push, with a fake store that records calls and fails where told. */
function fake(fail: { start?: boolean; finish?: boolean } = {}) {
  const calls: string[] = [];
  const idempotency: Idempotency = {
    async start() {
      calls.push('start');
      if (fail.start) throw new Error('Connection is closed.');
      return { kind: 'claimed' };
    },
    async finish() {
      calls.push('finish');
      if (fail.finish) throw new Error('MOVED 2856 127.0.0.1:32811');
    },
    async abandon() {
      calls.push('abandon');
    },
  };
  return { idempotency, calls };
}

const reply: PushReply = { accepted: [{ id: 'a', revision: 7 }], conflicts: [], revision: 7 };

describe('withIdempotency', () => {
  it('stores the reply of a push that ran', async () => {
    const { idempotency, calls } = fake();
    expect(await withIdempotency(idempotency, 'u', 'k', async () => reply)).toEqual(reply);
    expect(calls).toEqual(['start', 'finish']);
  });

  it('answers a push whose reply could not be stored, and frees its key for a retry', async () => {
    const { idempotency, calls } = fake({ finish: true });
    expect(await withIdempotency(idempotency, 'u', 'k', async () => reply)).toEqual(reply);
    expect(calls).toEqual(['start', 'finish', 'abandon']);
  });

  it('frees the key of a push that failed, and reports the failure', async () => {
    const { idempotency, calls } = fake();
    await expect(
      withIdempotency(idempotency, 'u', 'k', async () => {
        throw new Error('store down');
      }),
    ).rejects.toThrow('store down');
    expect(calls).toEqual(['start', 'abandon']);
  });

  it('runs nothing when the key cannot be claimed, and needs no store without a key', async () => {
    const { idempotency, calls } = fake({ start: true });
    let ran = false;
    await expect(
      withIdempotency(idempotency, 'u', 'k', async () => {
        ran = true;
        return reply;
      }),
    ).rejects.toThrow('Connection is closed.');
    expect(ran).toBe(false);
    expect(await withIdempotency(idempotency, 'u', undefined, async () => reply)).toEqual(reply);
    expect(calls).toEqual(['start']);
  });
});
