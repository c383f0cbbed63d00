import { describe, expect, it } from 'vitest';
import {
  decodeOutcome,
  encodeOutcome,
  type Idempotency,
  withIdempotency,
} from '../../src/entries/idempotency.js';
import type { PushOutcome } from '../../src/entries/push-reply.js';

/** The protocol around a push, with a fake store that records calls and fails where told. */
function fake(fail: { start?: boolean; finish?: boolean } = {}, stored: string | null = null) {
  const calls: string[] = [];
  const idempotency: Idempotency = {
    renewEveryMs: 3_000,
    async start() {
      calls.push('start');
      if (fail.start) throw new Error('Connection is closed.');
      return { kind: 'claimed', token: 't' };
    },
    async renew() {
      calls.push('renew');
    },
    async finish() {
      calls.push('finish');
      if (fail.finish) throw new Error('MOVED 2856 127.0.0.1:32811');
      return stored;
    },
    async abandon() {
      calls.push('abandon');
    },
  };
  return { idempotency, calls };
}

const reply: PushOutcome = { accepted: [{ id: 'a', revision: 7 }], conflicts: [], revision: 7 };

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

  it('answers the outcome stored first when another run of the same key finished before it', async () => {
    const first: PushOutcome = {
      accepted: [],
      conflicts: [{ id: 'a', currentRevision: 6 }],
      revision: 6,
    };
    const { idempotency } = fake({}, encodeOutcome(first));
    expect(await withIdempotency(idempotency, 'u', 'k', async () => reply)).toEqual(first);
  });

  it('stores outcomes without content and reads them back exactly', () => {
    const outcome: PushOutcome = {
      accepted: [{ id: 'a', revision: 7 }],
      conflicts: [
        { id: 'b', currentRevision: 3 },
        { id: 'c', currentRevision: null },
      ],
      revision: 9,
    };
    const withContent: PushOutcome = {
      ...outcome,
      conflicts: outcome.conflicts.map((c) =>
        c.currentRevision === 3
          ? {
              ...c,
              current: {
                userId: 'u',
                id: 'b',
                revision: 3,
                baseRevision: 0,
                deleted: false,
                content: '{"secret":"canary"}',
                clientUpdatedAt: null,
                updatedAt: new Date(0),
                deviceId: null,
              },
            }
          : c,
      ),
    };
    const record = encodeOutcome(withContent);
    expect(record).not.toContain('canary');
    expect(decodeOutcome(record)).toEqual(outcome);
  });
});
