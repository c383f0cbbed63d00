import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncApp } from '../src/app.js';
import { idempotencyKeys } from '../src/entries/idempotency.js';
import { type Harness, newUserId, push, syncHarness } from './helpers.js';

const MiB = 1024 * 1024;
const KiB = 1024;

let h: Harness;
let app: SyncApp;

beforeAll(async () => {
  h = await syncHarness('sync_redis_bounds');
  app = await h.build({ ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0' });
});
afterAll(() => h.close());

/** Bytes Redis itself reports for a user's key (0 when absent), after the test's prefix. */
async function memoryOf(key: string): Promise<number> {
  const used = (await h.rawRedis.call('MEMORY', 'USAGE', `${h.keyPrefix}${key}`, 'SAMPLES', '0')) as
    | number
    | null;
  return used ?? 0;
}

async function userBytes(userId: string): Promise<number> {
  const keys = [...idempotencyKeys(userId), `sync:recent:${userId}`, `sync:head:${userId}`];
  let total = 0;
  for (const key of keys) total += await memoryOf(key);
  return total;
}

describe('Redis memory per user is bounded, whatever the account sends', () => {
  it('keeps no entry content for replays: stale pushes of large entries with fresh keys stay under 1 MiB', async () => {
    const userId = newUserId('hostile');
    const token = await h.token(userId);
    const canary = `canary-${Math.random().toString(36).slice(2)}`;
    const text = `${canary}${'x'.repeat(MiB - 200)}`;
    // Twenty entries of 1 MiB, eight per push (a push body stays under 10 MiB).
    for (let first = 0; first < 20; first += 8) {
      const changes = Array.from({ length: Math.min(8, 20 - first) }, (_, i) => ({
        id: `big-${first + i}`,
        baseRevision: 0,
        content: { text },
      }));
      expect((await push(app, token, changes)).res.statusCode).toBe(200);
    }
    // The attack: a few hundred bytes of stale changes, each push under a fresh key. Every
    // reply still carries the 20 MiB of current content; Redis keeps none of it.
    const stale = Array.from({ length: 20 }, (_, i) => ({
      id: `big-${i}`,
      baseRevision: 0,
      content: { mine: i },
    }));
    for (let round = 0; round < 3; round++) {
      const { res, body } = await push(app, token, stale, {
        headers: { 'idempotency-key': `fresh-${round}` },
      });
      expect(res.statusCode).toBe(200);
      expect(body.conflicts).toHaveLength(20);
      for (const conflict of body.conflicts) {
        const current = conflict.current?.content as { text: string } | undefined;
        expect(current?.text.startsWith(canary)).toBe(true);
      }
    }
    const [replies, order] = idempotencyKeys(userId);
    const stored = await h.redis.hgetall(replies);
    expect(Object.keys(stored).filter((k) => k !== '#bytes')).toHaveLength(3);
    expect(JSON.stringify(stored)).not.toContain(canary);
    expect(await h.redis.zcard(order)).toBe(3);
    const bytes = await userBytes(userId);
    console.info(`redis bytes after 3 stale pushes of 20 x 1 MiB conflicts: ${bytes}`);
    expect(bytes).toBeLessThan(64 * KiB);
    // A replay under one of those keys reads the contents again and answers the same reply.
    const replay = await push(app, token, stale, { headers: { 'idempotency-key': 'fresh-1' } });
    expect(replay.body.conflicts.map((c) => c.current?.revision)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  }, 120_000);

  it('forgets the oldest Idempotency-Key records past the per-user bound, and a forgotten key runs again as identical', async () => {
    // The smallest bound the setting allows (100 KiB), so that a few pushes pass it.
    const small = await h.build({
      ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: '0',
      SYNC_IDEMPOTENCY_MAX_BYTES: String(100 * KiB),
    });
    const userId = newUserId('many-keys');
    const token = await h.token(userId);
    // 500 changes with 128-character ids: the largest record a push can leave (~70 KiB).
    const ids = Array.from(
      { length: 500 },
      (_, i) => `${String(i).padStart(4, '0')}${'k'.repeat(124)}`,
    );
    const changes = ids.map((id) => ({ id, baseRevision: 0, content: {} }));
    const first = await push(small, token, changes, { headers: { 'idempotency-key': 'key-0' } });
    expect(first.body.accepted).toHaveLength(500);
    // Each repeat under a fresh key is accepted as identical and leaves another full record.
    for (let round = 1; round <= 4; round++) {
      const again = await push(small, token, changes, {
        headers: { 'idempotency-key': `key-${round}` },
      });
      expect(again.body.accepted).toEqual(first.body.accepted);
    }
    const [replies, order] = idempotencyKeys(userId);
    const counted = Number(await h.redis.hget(replies, '#bytes'));
    expect(counted).toBeLessThanOrEqual(100 * KiB);
    const kept = await h.redis.zrange(order, 0, -1);
    expect(kept.length).toBeLessThan(5);
    expect(kept).toContain('key-4');
    expect(kept).not.toContain('key-0');
    // The records' own keys (the user's recent changes hold these 500 entries too).
    const bytes = (await memoryOf(replies)) + (await memoryOf(order));
    console.info(`redis bytes with ${kept.length} records of 500 long ids: ${bytes}`);
    expect(bytes).toBeLessThan(150 * KiB);
    // The oldest key was forgotten: its repeat runs again, and is accepted with the same revisions.
    const forgotten = await push(small, token, changes, {
      headers: { 'idempotency-key': 'key-0' },
    });
    expect(forgotten.body).toEqual(first.body);
  }, 120_000);

  it('keeps at most 256 recent changes of at most 8 KiB per user', async () => {
    const userId = newUserId('recent');
    const token = await h.token(userId);
    const body = 'y'.repeat(8 * KiB - 400);
    for (let first = 0; first < 600; first += 200) {
      const changes = Array.from({ length: 200 }, (_, i) => ({
        id: `r-${first + i}`,
        baseRevision: 0,
        content: { body },
      }));
      expect((await push(app, token, changes)).res.statusCode).toBe(200);
    }
    expect(await h.redis.zcard(`sync:recent:${userId}`)).toBe(256);
    const bytes = await memoryOf(`sync:recent:${userId}`);
    console.info(`redis bytes of 256 recent changes of ~8 KiB: ${bytes}`);
    expect(bytes).toBeLessThan(2.5 * MiB);
  }, 120_000);
});
