import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../../test-support/client.js';
import { type GatewayHarness, type Session, startGateway, type Upstream } from './helpers.js';

/**
 * Long-polls bounded per user and per gateway (docs/gateway.md, "Long-poll bounds"), through a
 * real gateway in front of a real HTTP server standing in for sync's long-poll: it holds each
 * `GET /sync/changes?since=N&wait=S` until the test wakes its user or the wait ends, and
 * records the calls the gateway cancelled (their connection closed before an answer).
 */

interface HeldPoll {
  user: string;
  since: number;
  answer(body: unknown): void;
}

interface SyncStandIn extends Upstream {
  /** Long-polls held now, by name (the client's x-request-id). */
  held: Map<string, HeldPoll>;
  /** Names of the calls whose connection closed before they were answered. */
  cancelled: string[];
  /** Every header name the stand-in received. */
  headerNames: Set<string>;
  /** Answers every held long-poll of `userId` with one change (as a push would). */
  wake(userId: string): void;
}

async function startSyncStandIn(): Promise<SyncStandIn> {
  const held = new Map<string, HeldPoll>();
  const cancelled: string[] = [];
  const headerNames = new Set<string>();
  const seen: Upstream['seen'] = [];
  const load = { inFlight: 0, maxInFlight: 0 };
  const app: FastifyInstance = Fastify({ logger: false, keepAliveTimeout: 70_000 });
  app.get('/sync/changes', (request, reply) => {
    for (const name of Object.keys(request.headers)) headerNames.add(name);
    seen.push({ method: request.method, url: request.url, headers: { ...request.headers } });
    // Digits only and no other field, as sync's schema: anything else is refused at once.
    const query = request.query as Record<string, unknown>;
    const digits = (v: unknown) => v === undefined || (typeof v === 'string' && /^\d+$/.test(v));
    const known = Object.keys(query).every((k) => k === 'since' || k === 'wait');
    if (!known || !digits(query.since) || !digits(query.wait)) {
      void reply.code(400).send({ code: 'validation_failed' });
      return;
    }
    const since = Number(query.since ?? 0);
    const wait = Number(query.wait ?? 0);
    const name = String(request.headers['x-request-id']);
    const user = String(request.headers['x-journal-user-id']);
    let done = false;
    const answer = (body: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      held.delete(name);
      void reply.send(body);
    };
    const timer = setTimeout(
      () => answer({ changes: [], revision: since, hasMore: false }),
      wait * 1000,
    );
    reply.raw.once('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      held.delete(name);
      cancelled.push(name);
    });
    held.set(name, { user, since, answer });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    name: 'sync',
    app,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    load,
    held,
    cancelled,
    headerNames,
    wake(userId) {
      for (const poll of [...held.values()]) {
        if (poll.user !== userId) continue;
        poll.answer({
          changes: [{ id: 'woken', revision: poll.since + 1 }],
          revision: poll.since + 1,
          hasMore: false,
        });
      }
    },
    async close() {
      app.server.closeAllConnections();
      await app.close();
    },
    async restart() {
      throw new Error('not supported');
    },
  };
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

/** Opens long-polls through `gw` and records their replies, by name. */
function client(gw: GatewayHarness, sync: SyncStandIn) {
  const replies = new Map<string, Reply>();
  const aborts = new Map<string, AbortController>();
  return {
    replies,
    answered: () => [...replies.keys()].sort(),
    /** Opens each long-poll once the previous one is held upstream (so "oldest" is defined). */
    async open(s: Session, names: string[], query = '?since=5&wait=25') {
      for (const name of names) {
        const abort = new AbortController();
        aborts.set(name, abort);
        void fetch(`${gw.url}/sync/changes${query}`, {
          headers: { authorization: `Bearer ${s.token}`, 'x-request-id': name },
          signal: abort.signal,
        }).then(
          async (res) => {
            const text = await res.text();
            replies.set(name, { status: res.status, body: JSON.parse(text), headers: res.headers });
          },
          () => {},
        );
        await expect
          .poll(() => sync.seen.some((c) => c.headers['x-request-id'] === name))
          .toBe(true);
      }
    },
    hangUp(name: string) {
      aborts.get(name)?.abort();
    },
  };
}

/** The value of gateway_long_polls_answered_early_total{reason} in `gw`'s registry. */
async function answeredEarly(gw: GatewayHarness, reason: 'per_user' | 'per_gateway') {
  const text = await gw.app.metrics.metrics();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('gateway_long_polls_answered_early_total{') &&
        l.includes(`reason="${reason}"`),
    );
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

const EMPTY = { changes: [], revision: 5, hasMore: false };

describe('long-polls bounded per user at the gateway', () => {
  let sync: SyncStandIn;
  let gw: GatewayHarness;

  beforeAll(async () => {
    sync = await startSyncStandIn();
    gw = await startGateway(
      { LOG_LEVEL: 'warn', LONG_POLL_MAX_PER_USER: '3' },
      { upstreams: { sync } },
    );
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("answers a user's oldest early and empty and cancels their sync calls; the newest are held and woken; another user's stay", async () => {
    const bob = await gw.session();
    const alice = await gw.session();
    const c = client(gw, sync);
    // Bob first: his are the oldest the gateway holds.
    await c.open(bob, ['b1', 'b2']);
    await c.open(alice, ['a1', 'a2', 'a3', 'a4', 'a5']);

    await expect.poll(() => c.answered()).toEqual(['a1', 'a2']);
    for (const name of ['a1', 'a2']) {
      const early = c.replies.get(name) as Reply;
      // The page a timed-out wait gives, as a normal reply of the gateway's.
      expect(early.status).toBe(200);
      expect(early.body).toEqual(EMPTY);
      expect(early.headers.get('content-type')).toMatch(/^application\/json/);
      expect(early.headers.get('x-request-id')).toBe(name);
      expect(early.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // Their calls to sync ended too (connection and sync's waiter freed).
    await expect.poll(() => [...sync.cancelled].sort()).toEqual(['a1', 'a2']);
    expect([...sync.held.keys()].sort()).toEqual(['a3', 'a4', 'a5', 'b1', 'b2']);
    expect(await answeredEarly(gw, 'per_user')).toBe(2);
    expect(await answeredEarly(gw, 'per_gateway')).toBe(0);

    // A push wakes Alice's three held long-polls; Bob's still wait.
    sync.wake(alice.userId);
    await expect.poll(() => c.answered()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    for (const name of ['a3', 'a4', 'a5']) {
      expect(c.replies.get(name)?.status).toBe(200);
      expect(c.replies.get(name)?.body).toEqual({
        changes: [{ id: 'woken', revision: 6 }],
        revision: 6,
        hasMore: false,
      });
    }
    expect([...sync.held.keys()].sort()).toEqual(['b1', 'b2']);
    sync.wake(bob.userId);
    await expect.poll(() => c.replies.size).toBe(7);
    expect(c.replies.get('b1')?.body).toMatchObject({ revision: 6 });
    expect(sync.cancelled.sort()).toEqual(['a1', 'a2']);
  });

  it('ends the call to sync at once when the client hangs up, and frees its place', async () => {
    const dave = await gw.session();
    const c = client(gw, sync);
    const before = sync.cancelled.length;
    await c.open(dave, ['d1', 'd2', 'd3']);
    c.hangUp('d1');
    await expect.poll(() => sync.cancelled.slice(before)).toEqual(['d1']);
    // Three places again: a fourth long-poll pushes nobody out.
    await c.open(dave, ['d4']);
    expect(sync.cancelled.slice(before)).toEqual(['d1']);
    expect(c.answered()).toEqual([]);
    sync.wake(dave.userId);
    await expect.poll(() => c.answered()).toEqual(['d2', 'd3', 'd4']);
  });

  it('counts only long-polls: pulls without wait, refused queries and refused tokens hold no place', async () => {
    const erin = await gw.session();
    const c = client(gw, sync);
    const before = await answeredEarly(gw, 'per_user');
    await c.open(erin, ['e1', 'e2', 'e3']);
    const headers = { authorization: `Bearer ${erin.token}` };
    for (const [query, status] of [
      ['?since=5', 200],
      ['?since=5&wait=0', 200],
      ['?since=5&wait=abc', 400],
      ['?since=5&wait=-3', 400],
      ['?since[$gt]=0&wait=5', 400],
      ['?since=5&wait=5&extra=1', 400],
      ['?since=5&wait=5&wait=6', 400],
    ] as const) {
      const res = await fetch(`${gw.url}/sync/changes${query}`, { headers });
      // Answered at once: by the stand-in as sync would (nothing new, or refused).
      expect(res.status, query).toBe(status);
      await res.arrayBuffer();
    }
    for (const authorization of ['Bearer nope', `Bearer ${erin.token.slice(0, -4)}AAAA`]) {
      const res = await fetch(`${gw.url}/sync/changes?since=5&wait=25`, {
        headers: { authorization },
      });
      const text = await res.text();
      expectProblem(
        { status: res.status, body: JSON.parse(text), headers: res.headers, text } as never,
        401,
        'unauthorized',
      );
    }
    expect(c.answered()).toEqual([]);
    expect(await answeredEarly(gw, 'per_user')).toBe(before);
    sync.wake(erin.userId);
    await expect.poll(() => c.answered()).toEqual(['e1', 'e2', 'e3']);
  });

  it('never lets the internal tag reach sync, nor a client use it to end another call', async () => {
    const frank = await gw.session();
    const grace = await gw.session();
    const c = client(gw, sync);
    await c.open(grace, ['g1']);
    const before = sync.cancelled.length;
    // Tags are small counters: forge every one this gateway has handed out so far, and more.
    const forged = (tag: number, query: string) =>
      fetch(`${gw.url}/sync/changes${query}`, {
        headers: {
          authorization: `Bearer ${frank.token}`,
          'x-journal-gateway-long-poll': `${tag}`,
        },
      }).then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      });
    for (let tag = 0; tag < 40; tag++) expect(await forged(tag, '?since=5')).toBe(200);
    const polls = [1, 2, 3].map((tag) => forged(tag, '?since=5&wait=1'));
    expect(await Promise.all(polls)).toEqual([200, 200, 200]);
    expect(sync.cancelled.length).toBe(before);
    expect(sync.held.has('g1')).toBe(true);
    expect([...sync.headerNames].filter((n) => n.startsWith('x-journal-gateway'))).toEqual([]);
    sync.wake(grace.userId);
    await expect.poll(() => c.answered()).toEqual(['g1']);
  });
});

describe('long-polls bounded per gateway', () => {
  it('over the gateway bound, answers early the oldest of the user holding the most, never a smaller holder', async () => {
    const sync = await startSyncStandIn();
    const gw = await startGateway(
      { LOG_LEVEL: 'warn', LONG_POLL_MAX_PER_USER: '10', LONG_POLL_MAX_PER_GATEWAY: '4' },
      { upstreams: { sync } },
    );
    try {
      const [bob, alice, carol] = [await gw.session(), await gw.session(), await gw.session()];
      const c = client(gw, sync);
      await c.open(bob, ['b1']);
      await c.open(alice, ['a1', 'a2', 'a3']);
      expect(c.answered()).toEqual([]);
      // Full: Carol's long-poll pushes out Alice's oldest, not Bob's older one.
      await c.open(carol, ['c1']);
      await expect.poll(() => c.answered()).toEqual(['a1']);
      expect(c.replies.get('a1')?.body).toEqual(EMPTY);
      await expect.poll(() => sync.cancelled).toEqual(['a1']);
      // Alice again: her own oldest goes.
      await c.open(alice, ['a4']);
      await expect.poll(() => c.answered()).toEqual(['a1', 'a2']);
      expect([...sync.held.keys()].sort()).toEqual(['a3', 'a4', 'b1', 'c1']);
      expect(await answeredEarly(gw, 'per_gateway')).toBe(2);
      expect(await answeredEarly(gw, 'per_user')).toBe(0);
      // Those held are woken as usual.
      for (const s of [alice, bob, carol]) sync.wake(s.userId);
      await expect.poll(() => c.answered()).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'c1']);
      expect(c.replies.get('b1')?.body).toMatchObject({ revision: 6 });
    } finally {
      await gw.close();
    }
  });
});
