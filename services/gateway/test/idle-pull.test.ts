import { sessionKey, syncHeadKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProblem } from '../../../test-support/client.js';
import { type GatewayHarness, json, type Session, startGateway } from './helpers.js';

/**
 * Idle pulls answered at the gateway from the head in Redis (docs/sync.md, "The head in
 * Redis"); everything else still reaches sync, which stays the one place that decides.
 */

let gw: GatewayHarness;
let alice: Session;

beforeAll(async () => {
  gw = await startGateway();
  alice = await gw.session();
});
afterAll(async () => {
  await gw?.close();
});

const bearer = (s: Session) => ({ authorization: `Bearer ${s.token}` });

async function setHead(s: Session, revision: number) {
  await gw.redis.set(syncHeadKey(s.userId), `${revision}:${Date.now()}`, 'PX', 60_000);
}

/** GET through the gateway; says whether the sync upstream saw it. */
async function pull(query: string, s: Session = alice) {
  const before = gw.upstreams.sync.seen.length;
  const res = await fetch(`${gw.url}/sync/changes${query}`, { headers: bearer(s) });
  const body = await json(res);
  return { res, body, proxied: gw.upstreams.sync.seen.length > before };
}

describe('idle pulls at the gateway', () => {
  it('answers a cursor at or above the head itself, as sync would: nothing new, cursor kept', async () => {
    await setHead(alice, 42);
    for (const [query, since] of [
      ['?since=42', 42],
      ['?since=42&limit=10', 42],
      ['?since=50&wait=0', 50],
    ] as const) {
      const { res, body, proxied } = await pull(query);
      expect(res.status, query).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(body).toEqual({ changes: [], revision: since, hasMore: false });
      expect(proxied, query).toBe(false);
    }
  });

  it('proxies a cursor below the head, a missing head, a long-poll and a query sync refuses', async () => {
    const bob = await gw.session();
    expect((await pull('?since=0', bob)).proxied).toBe(true);
    await setHead(bob, 7);
    for (const query of [
      '?since=6',
      '',
      '?since=7&wait=1',
      '?since=abc',
      '?since=7&limit=0',
      '?since[$gt]=0',
      '?since=7&extra=1',
    ]) {
      expect((await pull(query, bob)).proxied, query).toBe(true);
    }
    // Garbage in the key is no head.
    await gw.redis.set(syncHeadKey(bob.userId), 'junk');
    expect((await pull('?since=7', bob)).proxied).toBe(true);
  });

  it('answers a pull that names a generation only from a head of that generation (restores)', async () => {
    const erin = await gw.session();
    const key = syncHeadKey(erin.userId);
    await gw.redis.set(key, `42:${Date.now()}:GenOne_1`, 'PX', 60_000);
    const same = await pull('?since=42&generation=GenOne_1', erin);
    expect(same.proxied).toBe(false);
    expect(same.body).toEqual({
      changes: [],
      revision: 42,
      hasMore: false,
      generation: 'GenOne_1',
    });
    // Without the parameter (an older client): answered as before, the head's generation told.
    const legacy = await pull('?since=50', erin);
    expect(legacy.proxied).toBe(false);
    expect(legacy.body).toEqual({
      changes: [],
      revision: 50,
      hasMore: false,
      generation: 'GenOne_1',
    });
    // A cursor from another generation (a restore happened) may be above the restored store's
    // head: only sync can tell, so it goes there, whatever the cursor.
    for (const query of ['?since=42&generation=GenTwo', '?since=1000&generation=GenTwo']) {
      expect((await pull(query, erin)).proxied, query).toBe(true);
    }
    // A head in the older two-part form has no generation: a pull that names one goes to sync.
    await gw.redis.set(key, `42:${Date.now()}`, 'PX', 60_000);
    expect((await pull('?since=42&generation=GenOne_1', erin)).proxied).toBe(true);
    // Hostile values are never answered here (sync refuses them with a 400).
    await gw.redis.set(key, `42:${Date.now()}:GenOne_1`, 'PX', 60_000);
    for (const query of [
      '?since=42&generation[$gt]=',
      '?since=42&generation=GenOne_1&generation=GenOne_1',
      `?since=42&generation=${'a'.repeat(65)}`,
      '?since=42&generation=',
    ]) {
      expect((await pull(query, erin)).proxied, query).toBe(true);
    }
  });

  it('never answers for another user, an ended session, or a bad token', async () => {
    const carol = await gw.session();
    await setHead(carol, 1000);
    // Alice's head is 42: her cursor 100 is at or above it.
    await setHead(alice, 42);
    const mine = await pull('?since=100');
    expect(mine.proxied).toBe(false);
    // Carol's cursor 500 is above Alice's head but below her own: it goes to sync.
    expect((await pull('?since=500', carol)).proxied).toBe(true);
    expect((await pull('?since=1000', carol)).proxied).toBe(false);

    const ended = await gw.session();
    await setHead(ended, 1);
    await gw.redis.del(sessionKey(ended.sessionId));
    const refused = await fetch(`${gw.url}/sync/changes?since=5`, { headers: bearer(ended) });
    const text = await refused.text();
    expectProblem(
      { status: refused.status, body: JSON.parse(text), headers: refused.headers, text } as never,
      401,
      'unauthorized',
    );
    const forged = await fetch(`${gw.url}/sync/changes?since=5`, {
      headers: { authorization: `Bearer ${alice.token.slice(0, -4)}AAAA` },
    });
    expect(forged.status).toBe(401);
  });

  it('counts the call against the rate limit like any other', async () => {
    const limited = await startGateway({ RATE_LIMIT_AUTHENTICATED_MAX: '3' });
    try {
      const dave = await limited.session();
      await limited.redis.set(syncHeadKey(dave.userId), `1:${Date.now()}`, 'PX', 60_000);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${limited.url}/sync/changes?since=1`, { headers: bearer(dave) });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await limited.close();
    }
  });
});
