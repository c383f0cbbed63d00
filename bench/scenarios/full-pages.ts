import { syncHeadKey, syncRecentKey } from '@journal/shared';
import { auth, type BenchUser, push, register } from '../lib/client.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { type HintCase, hintVsStore } from '../lib/hint.js';
import { call } from '../lib/measure.js';

const MAX_PAGE_BYTES = 4 * 1024 * 1024;
/** Entries of each reader (~1 KiB each), pushed 500 at a time. */
const STORED = 2000;
/** The page a device following live reads: the last 200, inside the recent changes (256). */
const RECENT = 200;

/**
 * Pages of a journal of 2,000 entries of ~1 KiB (entries/s), two users with the same entries,
 * one keeping its hint in Redis and the other's deleted before each request:
 * - the last 200 (a device a little behind): with the hint, from the recent changes in Redis
 *   (against the raw GET of the head and ZRANGE of the 200); without it, the head miss, the
 *   store page and the purge horizon (against the raw driver's same three queries);
 * - a full page of 500 from 0 (a first sync): more than the recent changes hold, so from the
 *   store either way (against the raw page query, with and without the head miss's query).
 */
export const fullPages: Scenario = {
  name: '4 full pages',
  async run(ctx) {
    const { stack } = ctx;
    const seed = async (label: string) => {
      const user = await register(stack.urls.gateway, label);
      for (let i = 0; i < STORED / 500; i++) await push(stack.urls.gateway, user, 500, 1000);
      return user;
    };
    const hint = await seed('reader');
    const cold = await seed('coldreader');
    ctx.state.reader = hint;
    ctx.state.pageUsers = { hint, cold };
    // The recent changes are young for SYNC_RECENT_TTL_SECONDS (300 s): this case first.
    await hintVsStore(ctx, recentPageCase(ctx, hint, cold));
    await hintVsStore(ctx, fullPageCase(ctx, hint, cold));
  },
};

function recentPageCase(ctx: BenchContext, hint: BenchUser, cold: BenchUser): HintCase {
  const since = STORED - RECENT;
  return {
    label: `4 page of the last ${RECENT} (since=${since})`,
    unit: 'entries/s',
    perReq: RECENT,
    call: (base, who) =>
      call(`${base}/sync/changes?since=${since}&limit=500`, { headers: auth(who) }),
    hintUser: hint,
    coldUser: cold,
    hint: {
      expect: { head: 'hit', recent: 'hit' },
      raw: `Redis GET of the head, ZRANGE of ${RECENT}`,
      op: async () => {
        await ctx.redis.get(syncHeadKey(hint.userId));
        await ctx.redis.zrange(
          syncRecentKey(hint.userId),
          `(${since}`,
          '+inf',
          'BYSCORE',
          'LIMIT',
          0,
          RECENT,
        );
      },
    },
    cold: {
      expect: { head: 'miss', recent: 'miss' },
      raw: 'highest revision, page and purge horizon queries',
      op: async () => {
        await ctx.entries.maxRevision(cold.userId);
        await ctx.entries.page(cold.userId, since, 500, MAX_PAGE_BYTES);
        await ctx.entries.purgedThrough(cold.userId);
      },
    },
  };
}

/** A full page of 500 from 0 of two users with the same entries (also the growth runs'). */
export function fullPageCase(
  ctx: BenchContext,
  hint: BenchUser,
  cold: BenchUser,
  label = '4 full page of 500 from 0',
): HintCase {
  return {
    label,
    unit: 'entries/s',
    perReq: 500,
    call: (base, who) => call(`${base}/sync/changes?since=0&limit=500`, { headers: auth(who) }),
    hintUser: hint,
    coldUser: cold,
    hint: {
      expect: { head: 'hit', recent: 'miss' },
      raw: 'page query',
      op: () => ctx.entries.page(hint.userId, 0, 500, MAX_PAGE_BYTES),
    },
    cold: {
      expect: { head: 'miss', recent: 'miss' },
      raw: 'highest revision and page queries',
      op: async () => {
        await ctx.entries.maxRevision(cold.userId);
        await ctx.entries.page(cold.userId, 0, 500, MAX_PAGE_BYTES);
      },
    },
  };
}
