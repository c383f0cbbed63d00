import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope } from '../../../test-support/encryption.js';
import type { SyncApp } from '../src/app.js';
import { type Harness, newUserId, pull, push, syncHarness } from './helpers.js';

let h: Harness;
let app: SyncApp;
const commands: string[] = [];
/**
 * Lookups of the account's end-to-end encryption record (shared/src/encryption-state.ts): a
 * push with plaintext content of an account without encryption makes one (a negative is never
 * cached), counted apart so the push's own commands stay what they were.
 */
const encryptionChecks: string[] = [];
const IGNORED = new Set([
  'hello',
  'ismaster',
  'isMaster',
  'ping',
  'endSessions',
  'saslStart',
  'saslContinue',
]);

// The store generation's periodic re-read (store/generation.ts) is no request's cost either.
const BACKGROUND = new Set(['session_revocations', 'user_revocations', 'sync_meta']);

beforeAll(async () => {
  h = await syncHarness('sync_roundtrips', { monitorCommands: true });
  // No background job (the account-deletion sweeper) may add its commands to a request's.
  // Recent changes deep enough for the 400 versions the recent-pages test pushes.
  app = await h.build({
    ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0',
    SYNC_RECENT_CHANGES: '1000',
  });
  h.client.on('commandStarted', (event: CommandStartedEvent) => {
    if (IGNORED.has(event.commandName)) return;
    // Background reads of the revocation set (at start-up, when its Redis subscription comes
    // up, once a minute) are no request's cost.
    if (BACKGROUND.has(String(event.command[event.commandName]))) return;
    if (event.command[event.commandName] === 'account_encryption') {
      encryptionChecks.push(event.commandName);
      return;
    }
    commands.push(event.commandName);
  });
});
afterAll(() => h.close());

async function counted<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; commands: string[]; checks: string[] }> {
  commands.length = 0;
  encryptionChecks.length = 0;
  const result = await fn();
  return { result, commands: [...commands], checks: [...encryptionChecks] };
}

/** Forgets the user's head in Redis, as an expiry or a Redis restart would. */
async function dropHead(userId: string) {
  await h.redis.del(`sync:head:${userId}`);
}

/** Forgets the user's recent changes in Redis (expired, trimmed, or lost). */
async function dropRecent(userId: string) {
  await h.redis.del(`sync:recent:${userId}`);
}

describe('MongoDB round trips', () => {
  it('a push of 1, 50 or 500 new entries costs one insert; edits add one find and one update', async () => {
    const measured: Record<string, string[]> = {};
    for (const n of [1, 50, 500]) {
      const userId = newUserId(`rt${n}`);
      const token = await h.token(userId);
      // A brand-new user: the first pull sets the head (one query).
      const first = await counted(() => pull(app, token, 'since=0'));
      expect(first.result.body).toMatchObject({ changes: [], revision: 0 });
      measured[`first pull ${n}`] = first.commands;
      // The quota counter (Redis) is built on its first use from one query of the user's
      // versions, then lives while used (docs/scaling.md, "Quotas"): read once here, so the
      // pushes below are measured as they run while it lives.
      const quota = await counted(() =>
        app.inject({
          method: 'GET',
          url: '/sync/usage',
          headers: { authorization: `Bearer ${token}` },
        }),
      );
      expect(quota.result.statusCode).toBe(200);
      measured[`quota counter ${n}`] = quota.commands;
      const create = Array.from({ length: n }, (_, i) => ({
        id: `e${i}`,
        baseRevision: 0,
        content: { i, text: 'some journal text' },
      }));
      const created = await counted(() => push(app, token, create));
      expect(created.result.body.accepted).toEqual(
        create.map((c, i) => ({ id: c.id, revision: i + 1 })),
      );
      measured[`create ${n}`] = created.commands;
      const more = create.map((c) => ({ ...c, id: `${c.id}-more` }));
      const createdAgain = await counted(() => push(app, token, more));
      expect(createdAgain.result.body.accepted).toHaveLength(n);
      measured[`create again ${n}`] = createdAgain.commands;
      const edit = create.map((c, i) => ({ ...c, baseRevision: i + 1, content: { i, v: 2 } }));
      const edited = await counted(() => push(app, token, edit));
      expect(edited.result.body.accepted).toHaveLength(n);
      measured[`edit ${n}`] = edited.commands;
      // The first applies (its base is current), every other one is stale.
      const mixed = create.map((c, i) => ({
        ...c,
        baseRevision: i === 0 ? 2 * n + 1 : 1,
        content: { i, v: 3 },
      }));
      const conflicted = await counted(() => push(app, token, mixed));
      expect(conflicted.result.body.conflicts).toHaveLength(n - 1);
      measured[`conflicts ${n}`] = conflicted.commands;
      // The head expires (or Redis lost it): the push reads the highest revision (one query,
      // which sets the head again) and guesses from it; the next costs one insert.
      await dropHead(userId);
      const cold = await counted(() =>
        push(app, token, [{ id: 'cold', baseRevision: 0, content: {} }]),
      );
      expect(cold.result.body.accepted).toEqual([{ id: 'cold', revision: 3 * n + 2 }]);
      measured[`cold ${n}`] = cold.commands;
      const warm = await counted(() =>
        push(app, token, [{ id: 'warm', baseRevision: 0, content: {} }]),
      );
      expect(warm.result.body.accepted).toEqual([{ id: 'warm', revision: 3 * n + 3 }]);
      measured[`warm ${n}`] = warm.commands;
      // Every push above had plaintext content: one lookup of the encryption record each.
      for (const [name, step] of Object.entries({ created, createdAgain, edited, cold, warm })) {
        expect(step.checks, `${name} ${n}`).toEqual(['find']);
      }
      expect(first.checks).toEqual([]);
      // Envelopes (what an encrypted account pushes) need no lookup at all.
      const sealed = await counted(() =>
        push(app, token, [
          { id: 'sealed', baseRevision: 0, content: envelope() },
          { id: 'warm', baseRevision: 3 * n + 3, deleted: true },
        ]),
      );
      expect(sealed.result.body.accepted).toHaveLength(2);
      expect(sealed.checks).toEqual([]);
      expect(sealed.commands).toEqual(['find', 'insert', 'update']);
    }
    for (const n of [1, 50, 500]) {
      expect(measured[`first pull ${n}`], `first pull ${n}`).toEqual(['find']);
      expect(measured[`quota counter ${n}`], `quota counter ${n}`).toEqual(['find']);
      expect(measured[`create ${n}`], `create ${n}`).toEqual(['insert']);
      expect(measured[`create again ${n}`], `create again ${n}`).toEqual(['insert']);
      expect(measured[`edit ${n}`], `edit ${n}`).toEqual(['find', 'insert', 'update']);
      expect(measured[`conflicts ${n}`], `conflicts ${n}`).toEqual(['find', 'insert', 'update']);
      expect(measured[`cold ${n}`], `cold ${n}`).toEqual(['find', 'insert']);
      expect(measured[`warm ${n}`], `warm ${n}`).toEqual(['insert']);
    }
    console.log('push round trips', JSON.stringify(measured));
  });

  it('an empty pull at the head costs no command; a pull with changes costs its page (and horizon)', async () => {
    const userId = newUserId('pull');
    const token = await h.token(userId);
    await push(
      app,
      token,
      Array.from({ length: 500 }, (_, i) => ({ id: `p${i}`, baseRevision: 0, content: { i } })),
    );
    // Without the recent changes in Redis (expired, or a follower further back than they go).
    await dropRecent(userId);
    for (const [query, expected] of [
      ['since=0&limit=1000', ['find']],
      ['since=0&limit=1', ['find']],
      ['since=10&limit=1000', ['find', 'find']],
      ['since=10&limit=300', ['find', 'find']],
      ['since=500&limit=1000', []],
      ['since=500&limit=1', []],
      ['since=900', []],
    ] as const) {
      const { result, commands: used } = await counted(() => pull(app, token, query));
      expect(result.res.statusCode).toBe(200);
      expect(used, query).toEqual(expected);
    }
    // Without a head, an empty pull costs one query, which sets the head again.
    await dropHead(userId);
    const cold = await counted(() => pull(app, token, 'since=500'));
    expect(cold.result.body).toEqual({
      changes: [],
      revision: 500,
      hasMore: false,
      generation: expect.any(String),
    });
    expect(cold.commands).toEqual(['find']);
    const warm = await counted(() => pull(app, token, 'since=500'));
    expect(warm.commands).toEqual([]);
  });

  it('pages of changes just pushed cost no command, and equal the pages MongoDB serves', async () => {
    const userId = newUserId('recent');
    const token = await h.token(userId);
    await push(
      app,
      token,
      Array.from({ length: 300 }, (_, i) => ({ id: `r${i}`, baseRevision: 0, content: { i } })),
    );
    // Edits and deletions: the versions they replace are dropped from pages, in Redis as in
    // MongoDB (its superseded mark).
    const edited = await push(
      app,
      token,
      Array.from({ length: 100 }, (_, i) => ({
        id: `r${i * 3}`,
        baseRevision: i * 3 + 1,
        ...(i % 4 === 0 ? { deleted: true } : { content: { i, v: 2 } }),
      })),
    );
    expect(edited.body.accepted).toHaveLength(100);
    const queries = [
      'since=0&limit=1000',
      'since=0&limit=1',
      'since=0&limit=250',
      'since=5&limit=1000',
      'since=150&limit=100',
      'since=299&limit=1000',
      'since=350&limit=7',
      'since=399&limit=1000',
    ];
    const fromRedis: unknown[] = [];
    for (const query of queries) {
      const { result, commands: used } = await counted(() => pull(app, token, query));
      expect(result.res.statusCode, result.res.body).toBe(200);
      expect(used, query).toEqual([]);
      fromRedis.push(result.body);
    }
    await dropRecent(userId);
    for (const [i, query] of queries.entries()) {
      const { result, commands: used } = await counted(() => pull(app, token, query));
      expect(used.length, query).toBeGreaterThan(0);
      expect(fromRedis[i], query).toEqual(result.body);
    }
  });

  it('a change too large to keep in Redis makes the pages over it read MongoDB, and only those', async () => {
    const userId = newUserId('large');
    const token = await h.token(userId);
    const pushed = await push(app, token, [
      { id: 'small-1', baseRevision: 0, content: { text: 'a' } },
      { id: 'large', baseRevision: 0, content: { text: 'x'.repeat(20 * 1024) } },
      { id: 'small-2', baseRevision: 0, content: { text: 'b' } },
    ]);
    expect(pushed.res.statusCode).toBe(200);
    const over = await counted(() => pull(app, token, 'since=0'));
    expect(over.result.body.changes.map((e: { id: string }) => e.id)).toEqual([
      'small-1',
      'large',
      'small-2',
    ]);
    expect(over.commands.length).toBeGreaterThan(0);
    const after = await counted(() => pull(app, token, 'since=2'));
    expect(after.result.body.changes.map((e: { id: string }) => e.id)).toEqual(['small-2']);
    expect(after.commands).toEqual([]);
  });

  it('an unwoken long-poll cycle costs no command; a wake-up costs none either', async () => {
    const token = await h.token(newUserId('wait'));
    await app.sync.notifier.ready();
    await push(app, token, [{ id: 'w0', baseRevision: 0, content: {} }]);
    // Let that push's own wake-up pass first: it would wake the pull below.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idle = await counted(() => pull(app, token, 'since=1&wait=1'));
    expect(idle.result.body).toMatchObject({ changes: [], revision: 1 });
    expect(idle.commands).toEqual([]);

    const woken = await counted(async () => {
      const waiting = pull(app, token, 'since=1&wait=10');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const pushed = await push(app, token, [{ id: 'w1', baseRevision: 0, content: {} }]);
      expect(pushed.res.statusCode).toBe(200);
      return waiting;
    });
    expect(woken.result.body.changes.map((e: { id: string }) => e.id)).toEqual(['w1']);
    // The push's one insert; the woken pull reads the change from the recent changes in Redis.
    expect(woken.commands).toEqual(['insert']);
  });
});
