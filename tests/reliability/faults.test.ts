import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnMongo, spawnRedis } from '../../scripts/lib/deps.js';
import { NO_RATE_LIMITS } from '../../scripts/lib/stack.js';
import { type Account, type Client, client, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * Fault injection against real processes while clients keep working: SIGKILL of each service,
 * Redis and the MongoDB-wire server stopped and started. Every request must succeed or get a
 * clear 5xx problem document within its timeout; nothing acknowledged may be lost; retried
 * pushes with their Idempotency-Key must not apply twice; recovery needs no restart of ours.
 */

const REQUEST_TIMEOUT_MS = 15_000;
let stack: TestStack;
let api: Client;
let users: Account[];
let mongo: Awaited<ReturnType<typeof spawnMongo>>;
let redis: Awaited<ReturnType<typeof spawnRedis>>;
let redisDir: string;
const report: Record<
  string,
  { requests: number; failed: number; keyInProgress: number; recoveryMs: number; acked: number }
> = {};

interface Outcome {
  kind: string;
  status: number;
  problem: boolean;
  ms: number;
  at: number;
}

beforeAll(async () => {
  redisDir = await mkdtemp(join(tmpdir(), 'journal-faults-redis-'));
  [mongo, redis] = await Promise.all([spawnMongo(), spawnRedis({ dir: redisDir })]);
  // Rate limits out of the way: the load loops as fast as the stack answers, and a 429 would
  // hide what the faults do.
  stack = await startTestStack(
    'faults',
    { LOG_LEVEL: 'warn', ...NO_RATE_LIMITS },
    { mongoUrl: mongo.url, redisUrl: redis.url },
  );
  api = client(stack.gateway);
  users = [
    await registerUser(api, 'f1'),
    await registerUser(api, 'f2'),
    await registerUser(api, 'f3'),
  ];
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([mongo?.destroy(), redis?.destroy()]);
  await rm(redisDir, { recursive: true, force: true });
  process.stdout.write(`\nfault injection: ${JSON.stringify(report)}\n`);
});

async function timed(
  kind: string,
  outcomes: Outcome[],
  fn: (signal: AbortSignal) => Promise<Response>,
) {
  const started = Date.now();
  try {
    const res = await fn(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    const text = await res.text();
    const problem = /application\/problem\+json/.test(res.headers.get('content-type') ?? '');
    outcomes.push({ kind, status: res.status, problem, ms: Date.now() - started, at: started });
    return { status: res.status, text };
  } catch (err) {
    // A refused connection to the gateway itself never happens (it is never killed); an abort is a hang.
    outcomes.push({ kind, status: -1, problem: false, ms: Date.now() - started, at: started });
    return { status: -1, text: String(err) };
  }
}

/** Pushes with Idempotency-Keys (retrying each with the same key), reads and uploads, until stopped. */
function startLoad(label: string) {
  const outcomes: Outcome[] = [];
  const acked = new Map<string, { user: Account; revision: number; content: unknown }>();
  let stop = false;
  const workers = users.flatMap((user, u) =>
    [0, 1].map(async (w) => {
      for (let n = 0; !stop; n++) {
        const id = `${label}-${u}-${w}-${n}`;
        const content = { id, nonce: randomBytes(6).toString('hex') };
        const key = `idem-${id}`;
        for (let attempt = 0; attempt < 100 && !stop; attempt++) {
          const res = await timed('push', outcomes, (signal) =>
            fetch(`${stack.gateway}/sync/push`, {
              method: 'POST',
              signal,
              headers: {
                authorization: `Bearer ${user.accessToken}`,
                'content-type': 'application/json',
                'idempotency-key': key,
              },
              body: JSON.stringify({ changes: [{ id, baseRevision: 0, content }] }),
            }),
          );
          if (res.status === 200) {
            const body = JSON.parse(res.text) as { accepted: { id: string; revision: number }[] };
            const accepted = body.accepted.find((a) => a.id === id);
            expect(accepted, `push ${id} was not accepted: ${res.text}`).toBeDefined();
            acked.set(id, { user, revision: accepted?.revision ?? -1, content });
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        await timed('me', outcomes, (signal) =>
          fetch(`${stack.gateway}/auth/me`, {
            signal,
            headers: { authorization: `Bearer ${user.accessToken}` },
          }),
        );
        if (n % 3 === 0) {
          await timed('attachment', outcomes, (signal) =>
            fetch(`${stack.gateway}/attachments/${id}`, {
              method: 'PUT',
              signal,
              headers: {
                authorization: `Bearer ${user.accessToken}`,
                'content-type': 'text/plain',
              },
              body: `bytes of ${id}`,
            }),
          );
        }
      }
    }),
  );
  return {
    outcomes,
    acked,
    stop: async () => {
      stop = true;
      await Promise.all(workers);
    },
  };
}

async function allEntries(user: Account) {
  const seen = new Map<string, { revision: number; content: unknown }>();
  let since = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const res = await api.get<{
      changes: { id: string; revision: number; content: unknown }[];
      revision: number;
      hasMore: boolean;
    }>(`/sync/changes?since=${since}&limit=1000`, user.accessToken);
    expect(res.status).toBe(200);
    for (const e of res.body.changes) {
      expect(seen.has(e.id), `entry ${e.id} seen twice`).toBe(false);
      expect(e.revision).toBeGreaterThan(since);
      seen.set(e.id, e);
    }
    since = res.body.revision;
    if (!res.body.hasMore) break;
  }
  return seen;
}

async function inject(
  name: string,
  kinds: string[],
  down: () => Promise<void>,
  up: () => Promise<void>,
) {
  const load = startLoad(name);
  await new Promise((r) => setTimeout(r, 800));
  await down();
  await new Promise((r) => setTimeout(r, 1_500));
  const restoredAt = Date.now();
  await up();
  // Keep the load going until every kind of request succeeded again after the restore.
  const deadline = Date.now() + 30_000;
  const recovered = () =>
    kinds.every((k) =>
      load.outcomes.some(
        (o) => o.kind === k && o.at >= restoredAt && o.status >= 200 && o.status < 300,
      ),
    );
  while (!recovered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const recoveryMs = Math.max(
    0,
    ...kinds.map((k) => {
      const first = load.outcomes.find(
        (o) => o.kind === k && o.at >= restoredAt && o.status >= 200 && o.status < 300,
      );
      return first ? first.at + first.ms - restoredAt : Number.POSITIVE_INFINITY;
    }),
  );
  await new Promise((r) => setTimeout(r, 500));
  await load.stop();

  expect(
    recovered(),
    `${name}: did not recover within 30 s; last outcomes ${JSON.stringify(load.outcomes.slice(-8))}`,
  ).toBe(true);
  // A retried push whose first attempt died mid-request may find its Idempotency-Key still
  // claimed (for at most 10 s): 409 `conflict` with Retry-After, the documented "in progress".
  const inProgress = (o: Outcome) => o.kind === 'push' && o.status === 409 && o.problem;
  const bad = load.outcomes.filter(
    (o) =>
      !(o.status >= 200 && o.status < 300) && !(o.status >= 500 && o.problem) && !inProgress(o),
  );
  expect(bad, `${name}: responses that were neither success nor a 5xx problem document`).toEqual(
    [],
  );
  expect(Math.max(...load.outcomes.map((o) => o.ms))).toBeLessThan(REQUEST_TIMEOUT_MS);

  // Every acknowledged write is still there, once, with its content.
  for (const user of users) {
    const entries = await allEntries(user);
    for (const [id, ack] of load.acked) {
      if (ack.user !== user) continue;
      expect(entries.get(id)?.content, `${name}: acknowledged ${id} lost`).toEqual(ack.content);
      expect(entries.get(id)?.revision).toBe(ack.revision);
    }
  }
  report[name] = {
    requests: load.outcomes.length,
    failed: load.outcomes.filter((o) => o.status >= 500).length,
    keyInProgress: load.outcomes.filter(inProgress).length,
    recoveryMs,
    acked: load.acked.size,
  };
  expect(load.acked.size).toBeGreaterThan(0);
}

// Each case bounds recovery itself (30 s, asserted with the last outcomes), then lets in-flight
// requests finish (up to REQUEST_TIMEOUT_MS) and reads every entry back: more than vitest's
// default 30 s in all, so the case's own assertions decide, not the runner's timeout.
describe('fault injection under client load', { timeout: 120_000 }, () => {
  it('survives SIGKILL of sync', () =>
    inject(
      'kill-sync',
      ['push'],
      () => stack.kill('sync'),
      () => stack.restart('sync'),
    ));

  it('survives SIGKILL of auth', () =>
    inject(
      'kill-auth',
      ['me', 'push'],
      () => stack.kill('auth'),
      () => stack.restart('auth'),
    ));

  it('survives SIGKILL of attachments', () =>
    inject(
      'kill-attachments',
      ['attachment', 'push'],
      () => stack.kill('attachments'),
      () => stack.restart('attachments'),
    ));

  it('survives Redis stopping and starting', () =>
    inject(
      'redis-restart',
      ['push', 'me'],
      () => redis.stop(),
      () => redis.start(),
    ));

  it('survives the MongoDB-wire server stopping and starting', () =>
    inject(
      'mongo-restart',
      ['push', 'me', 'attachment'],
      () => mongo.stop(),
      () => mongo.start(),
    ));
});
