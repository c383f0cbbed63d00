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
 * Long-polls bounded per user at the gateway, through the whole stack as processes
 * (docs/gateway.md, "Long-poll bounds"): a user's oldest long-polls are answered early and
 * empty, their calls to sync are cancelled (sync stops holding their waiters), the newest stay
 * held and are woken by a push, and another user's are untouched.
 */

interface Changes {
  changes: { id: string }[];
  revision: number;
  hasMore: boolean;
}

let stack: TestStack;
let api: Client;
let alice: Account;
let bob: Account;

beforeAll(async () => {
  stack = await startTestStack('e2e-long-poll-bounds', {
    LONG_POLL_MAX_PER_USER: '3',
    // Sync's own bound stays out of the way: the gateway's is the one under test here.
    SYNC_LONG_POLL_MAX_PER_USER: '50',
  });
  api = client(stack.gateway);
  alice = await registerUser(api, 'alice');
  bob = await registerUser(api, 'bob');
});

afterAll(async () => {
  await stack?.stop();
});

/** One sample of a service's metric (summed over its label sets that contain `labels`). */
async function metric(service: 'gateway' | 'sync', name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${stack.metricsUrls[service]}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

const waitingInSync = () => metric('sync', 'sync_long_polls_waiting');

describe('long-polls bounded per user, through the stack', () => {
  it("answers a user's oldest early and empty, frees their waiters in sync, and wakes the newest; another user's stay", async () => {
    const replies = new Map<string, Reply<Changes>>();
    const open = (who: Account, name: string) => {
      void api
        .get<Changes>('/sync/changes?since=0&wait=25', who.accessToken)
        .then((r) => replies.set(name, r));
    };
    const answered = () => [...replies.keys()].sort();
    const earlyBefore = await metric(
      'gateway',
      'gateway_long_polls_answered_early_total',
      'reason="per_user"',
    );

    // Bob's first, then Alice's three: each held in sync before the next opens.
    open(bob, 'b1');
    await expect.poll(waitingInSync).toBe(1);
    for (const [i, name] of ['a1', 'a2', 'a3'].entries()) {
      open(alice, name);
      await expect.poll(waitingInSync).toBe(i + 2);
    }
    // Two more of Alice's: each lets her oldest go, answered at the gateway at once.
    open(alice, 'a4');
    await expect.poll(answered).toEqual(['a1']);
    open(alice, 'a5');
    await expect.poll(answered).toEqual(['a1', 'a2']);
    for (const name of ['a1', 'a2']) {
      const early = replies.get(name) as Reply<Changes>;
      expect(early.status).toBe(200);
      expect(early.body).toEqual({ changes: [], revision: 0, hasMore: false });
    }
    // Sync holds Bob's one and Alice's newest three: the two cancelled calls left it.
    await expect.poll(waitingInSync).toBe(4);
    expect(
      await metric('gateway', 'gateway_long_polls_answered_early_total', 'reason="per_user"'),
    ).toBe(earlyBefore + 2);

    // A push of Alice's wakes her three; Bob's still waits.
    const pushed = await api.post<{ accepted: unknown[] }>(
      '/sync/push',
      { changes: [{ id: 'note', baseRevision: 0, content: { t: 'hi' } }], deviceId: 'd1' },
      alice.accessToken,
    );
    expect(pushed.status, pushed.text).toBe(200);
    await expect.poll(answered).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    for (const name of ['a3', 'a4', 'a5']) {
      expect(replies.get(name)?.body.changes.map((e) => e.id)).toEqual(['note']);
    }
    await expect.poll(waitingInSync).toBe(1);
    expect(replies.has('b1')).toBe(false);
    await api.post(
      '/sync/push',
      { changes: [{ id: 'other', baseRevision: 0, content: {} }], deviceId: 'd2' },
      bob.accessToken,
    );
    await expect.poll(() => replies.get('b1')?.body.changes.map((e) => e.id)).toEqual(['other']);
  });
});
