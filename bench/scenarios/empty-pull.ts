import { syncHeadKey } from '@journal/shared';
import { auth, type BenchUser, push, register } from '../lib/client.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { type HintCase, hintVsStore } from '../lib/hint.js';
import { call } from '../lib/measure.js';

/**
 * An authenticated pull with nothing new (the idle device's call), at the head:
 * - through the gateway, directly, nginx and a bare Node.js proxy (autocannon, 10 connections
 *   and 1): what each hop adds. Answered from the head in Redis; no raw ratio here, the next
 *   rows give it.
 * - with the head in Redis (one GET, no MongoDB command) against the raw Redis GET of the head,
 *   and with the head deleted before each pull (the head miss: one query of the user's highest
 *   revision, a collection scan on FerretDB) against the raw driver's same query.
 */
export const emptyPull: Scenario = {
  name: '2 empty pull',
  async run(ctx) {
    const { stack, user, headers, nginx, nodeProxy } = ctx;
    const first = await push(stack.urls.gateway, user, 1);
    const cursor = first.revision;
    ctx.state.cursor = cursor;
    await ctx.compare(
      '2 empty pull',
      {
        gateway: `${stack.urls.gateway}/sync/changes?since=${cursor}`,
        direct: `${stack.urls.sync}/sync/changes?since=${cursor}`,
        nginx: `${nginx.url}/sync/sync/changes?since=${cursor}`,
        'node proxy': `${nodeProxy.url}/sync/sync/changes?since=${cursor}`,
      },
      headers,
    );
    // A second user with the same single entry, whose head is deleted before each pull.
    const cold = await register(stack.urls.gateway, 'cold');
    await push(stack.urls.gateway, cold, 1);
    ctx.state.pullUsers = { hint: user, cold, cursor };
    await hintVsStore(ctx, emptyPullCase(ctx, user, cold, cursor));
  },
};

/** The empty pull at `cursor` of two users with the same entries (also the growth runs'). */
export function emptyPullCase(
  ctx: BenchContext,
  hint: BenchUser,
  cold: BenchUser,
  cursor: number,
  label = '2 empty pull',
): HintCase {
  return {
    label,
    unit: 'req/s',
    call: (base, who) => call(`${base}/sync/changes?since=${cursor}`, { headers: auth(who) }),
    hintUser: hint,
    coldUser: cold,
    hint: {
      expect: { head: 'hit' },
      gateway: 'none',
      raw: 'Redis GET of the head',
      op: () => ctx.redis.get(syncHeadKey(hint.userId)),
    },
    cold: {
      expect: { head: 'miss' },
      raw: 'highest revision query',
      op: () => ctx.entries.maxRevision(cold.userId),
    },
  };
}
