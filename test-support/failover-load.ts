import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { type Account, client, registerUser } from './client.js';
import type { TestStack } from './stack.js';

/**
 * A steady client load through a real stack (logins, pushes with Idempotency-Keys, long-polls,
 * session-checked reads, uploads) that records every call, for Redis failover tests. A call
 * that answers 401 because its session vanished from Redis refreshes (the refresh token is in
 * MongoDB) and counts as a lost session, never as a wrong answer.
 */

/** Far above the services' bounded waits (Redis command timeout 2 s): a call this long hung. */
export const CALL_TIMEOUT_MS = 15_000;

export interface Call {
  kind: string;
  status: number;
  problem: boolean;
  code?: string;
  start: number;
  end: number;
}

interface User extends Account {
  since: number;
}

/** Calls under way (by start time), so `settled()` waits for slow ones too. */
const inFlight = new Map<object, { kind: string; start: number }>();

async function timed(
  calls: Call[],
  kind: string,
  url: string,
  init: RequestInit,
): Promise<{ status: number; text: string }> {
  const start = Date.now();
  const token = {};
  inFlight.set(token, { kind, start });
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
    const text = await res.text();
    const problem = /application\/problem\+json/.test(res.headers.get('content-type') ?? '');
    let code: string | undefined;
    if (problem) code = (JSON.parse(text) as { code?: string }).code;
    calls.push({ kind, status: res.status, problem, code, start, end: Date.now() });
    return { status: res.status, text };
  } catch (err) {
    calls.push({ kind, status: -1, problem: false, start, end: Date.now() });
    return { status: -1, text: String(err) };
  } finally {
    inFlight.delete(token);
  }
}

export async function failoverUsers(stack: TestStack, count = 3): Promise<User[]> {
  const api = client(stack.gateway);
  const users: User[] = [];
  for (let i = 0; i < count; i++) users.push({ ...(await registerUser(api, `fo${i}`)), since: 0 });
  return users;
}

export function startFailoverLoad(stack: TestStack, users: User[], label: string) {
  const calls: Call[] = [];
  /** Entries whose push was answered 200 with them accepted. */
  const acked = new Map<string, { user: User; content: unknown }>();
  const counters = { sessionsLost: 0, idempotencyReplays: 0, pushRetries: 0 };
  let stop = false;
  const base = stack.gateway;
  const json = (token: string) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });

  /** On 401 the session is gone (lost in a failover): refresh, as a client app does. */
  async function renew(user: User): Promise<void> {
    const res = await timed(calls, 'refresh', `${base}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: user.refreshToken }),
    });
    if (res.status === 200) {
      const body = JSON.parse(res.text) as { accessToken: string; refreshToken: string };
      user.accessToken = body.accessToken;
      user.refreshToken = body.refreshToken;
    }
  }
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const pusher = async (user: User, u: number) => {
    for (let n = 0; !stop; n++) {
      const id = `${label}-${u}-${n}`;
      const content = { id, nonce: randomBytes(6).toString('hex') };
      const key = `idem-${id}`;
      for (let attempt = 0; attempt < 200 && !stop; attempt++) {
        if (attempt > 0) counters.pushRetries++;
        const res = await timed(calls, 'push', `${base}/sync/push`, {
          method: 'POST',
          headers: { ...json(user.accessToken), 'idempotency-key': key },
          body: JSON.stringify({ changes: [{ id, baseRevision: 0, content }] }),
        });
        if (res.status === 401) {
          counters.sessionsLost++;
          await renew(user);
          continue;
        }
        if (res.status === 200) {
          const body = JSON.parse(res.text) as {
            accepted: { id: string }[];
            conflicts: { id: string }[];
          };
          // A retry whose key was lost is accepted as identical to the stored entry, or a
          // replay of the first reply: either way one entry, never two.
          expect(
            body.accepted.map((a) => a.id),
            res.text,
          ).toEqual([id]);
          if (attempt > 0) counters.idempotencyReplays++;
          acked.set(id, { user, content });
          break;
        }
        await pause(100);
      }
    }
  };

  const reader = async (user: User) => {
    while (!stop) {
      const res = await timed(calls, 'me', `${base}/auth/me`, {
        headers: { authorization: `Bearer ${user.accessToken}` },
      });
      if (res.status === 401) {
        counters.sessionsLost++;
        await renew(user);
      }
      await pause(50);
    }
  };

  const poller = async (user: User) => {
    while (!stop) {
      const res = await timed(
        calls,
        'long-poll',
        `${base}/sync/changes?since=${user.since}&wait=2`,
        {
          headers: { authorization: `Bearer ${user.accessToken}` },
        },
      );
      if (res.status === 200) user.since = (JSON.parse(res.text) as { revision: number }).revision;
      else if (res.status === 401) {
        counters.sessionsLost++;
        await renew(user);
      } else await pause(100);
    }
  };

  const loginer = async (user: User) => {
    while (!stop) {
      await timed(calls, 'login', `${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          username: user.username,
          password: user.password,
          deviceName: 'load',
        }),
      });
      await pause(200);
    }
  };

  const uploader = async (user: User, u: number) => {
    for (let n = 0; !stop; n++) {
      const res = await timed(calls, 'upload', `${base}/attachments/${label}-att-${u}-${n}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'text/plain' },
        body: `bytes ${n} `.repeat(100),
      });
      if (res.status === 401) {
        counters.sessionsLost++;
        await renew(user);
      }
      await pause(150);
    }
  };

  const workers = users.flatMap((user, u) => [
    pusher(user, u),
    reader(user),
    poller(user),
    ...(u === 0 ? [loginer(user)] : []),
    ...(u === 1 ? [uploader(user, u)] : []),
  ]);

  const fine = (c: Call) => (c.status >= 200 && c.status < 300) || c.status === 401;
  return {
    calls,
    acked,
    counters,
    /**
     * Before a fault: waits (at most 30 s) until the last 3 s of calls all succeeded, every kind
     * of worker had calls answered, and returns the failures seen while warming up (a loaded
     * machine's first seconds, printed so a CI log shows them). Throws if it never got steady.
     */
    async steady(): Promise<Call[]> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        await pause(500);
        const recent = calls.filter((c) => c.end > Date.now() - 3_000);
        const kinds = new Set(recent.filter(fine).map((c) => c.kind));
        const ok =
          recent.length > 20 && recent.every(fine) && ['push', 'me'].every((k) => kinds.has(k));
        if (ok) break;
        if (Date.now() > deadline) {
          throw new Error(
            `the load never ran clean for 3 s before the fault: ${JSON.stringify(recent.filter((c) => !fine(c)).slice(0, 20))}`,
          );
        }
      }
      const warmup = calls.filter((c) => !fine(c));
      if (warmup.length)
        process.stdout.write(`\n${label}: warm-up failures ${JSON.stringify(warmup)}\n`);
      return warmup;
    },
    /** Waits until every call that ended in the last 3 s succeeded (at most 30 s), then 1 s more. */
    async settled(): Promise<void> {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        await pause(500);
        const recent = calls.filter((c) => c.end > Date.now() - 3_000);
        const slow = [...inFlight.values()].some(
          (c) => c.kind !== 'long-poll' && c.start < Date.now() - 1_000,
        );
        if (recent.length > 10 && recent.every(fine) && !slow) break;
      }
      await pause(1_000);
    },
    async stop() {
      stop = true;
      await Promise.all(workers);
    },
  };
}

export interface FailoverFigures {
  /** Calls started from the kill to the end of the load. */
  callsAfterKill: number;
  failed: number;
  failedByStatus: Record<string, number>;
  /** From the kill to the end of the last failed call: calls succeed again from here on. */
  recoveredAfterMs: number;
  /** The longest failed call (bounded: no call hangs). */
  slowestFailureMs: number;
  slowestCallMs: number;
  sessionsLost: number;
  idempotencyReplays: number;
}

/** The failed calls after `killedAt` (401 of a vanished session counts apart). */
export function figures(
  calls: Call[],
  killedAt: number,
  counters: { sessionsLost: number; idempotencyReplays: number },
): FailoverFigures & { failures: Call[] } {
  const after = calls.filter((c) => c.end >= killedAt);
  const failures = after.filter((c) => !(c.status >= 200 && c.status < 300) && c.status !== 401);
  const failedByStatus: Record<string, number> = {};
  for (const f of failures) {
    const k = `${f.kind} ${f.status}${f.code ? ` ${f.code}` : ''}`;
    failedByStatus[k] = (failedByStatus[k] ?? 0) + 1;
  }
  return {
    failures,
    callsAfterKill: after.length,
    failed: failures.length,
    failedByStatus,
    recoveredAfterMs: failures.length ? Math.max(...failures.map((f) => f.end)) - killedAt : 0,
    slowestFailureMs: failures.length ? Math.max(...failures.map((f) => f.end - f.start)) : 0,
    slowestCallMs: Math.max(
      0,
      ...after.filter((c) => c.kind !== 'long-poll').map((c) => c.end - c.start),
    ),
    sessionsLost: counters.sessionsLost,
    idempotencyReplays: counters.idempotencyReplays,
  };
}

/**
 * Every failed call is a 503 `upstream_unavailable` problem, except one documented case: a push
 * retried with its Idempotency-Key while the claim of its failed first attempt is still in
 * Redis (its release failed too) waits up to 5 s and answers 409 `conflict` with Retry-After,
 * until the claim expires (10 s).
 */
export function expectOnlyFailoverProblems(failures: Call[], logs: string[] = []): void {
  // On failure, the services' error messages of unexpected answers say what went wrong.
  const errors = logs
    .filter((l) => /"level":"error"/.test(l) && !/upstream_unavailable/.test(l))
    .map((l) => /"message":"([^"]*)"/.exec(l)?.[1])
    .filter(Boolean);
  for (const c of failures) {
    const idempotencyClaim = c.kind === 'push' && c.status === 409 && c.code === 'conflict';
    if (idempotencyClaim) expect(c.problem).toBe(true);
    else
      expect(
        c,
        `${JSON.stringify(c)} errors: ${JSON.stringify([...new Set(errors)])}`,
      ).toMatchObject({
        status: 503,
        problem: true,
        code: 'upstream_unavailable',
      });
  }
}

/** Every acknowledged push is in its user's feed with the content that was pushed. */
export async function expectAckedEntriesStored(
  stack: TestStack,
  acked: Map<string, { user: Account; content: unknown }>,
): Promise<void> {
  const api = client(stack.gateway);
  const byUser = new Map<Account, Map<string, unknown>>();
  for (const [id, { user, content }] of acked) {
    const m = byUser.get(user) ?? new Map<string, unknown>();
    byUser.set(user, m);
    m.set(id, content);
  }
  for (const [user, expected] of byUser) {
    const seen = new Map<string, unknown>();
    let since = 0;
    for (let guard = 0; guard < 100; guard++) {
      const res = await api.get<{
        changes: { id: string; content: unknown }[];
        revision: number;
        hasMore: boolean;
      }>(`/sync/changes?since=${since}&limit=1000`, user.accessToken);
      expect(res.status, res.text).toBe(200);
      for (const c of res.body.changes) seen.set(c.id, c.content);
      since = res.body.revision;
      if (!res.body.hasMore) break;
    }
    for (const [id, content] of expected) expect(seen.get(id), id).toEqual(content);
  }
}

/**
 * After a fault: lets the load settle and stops it, prints the figures, and checks what every
 * failover must give: no call hung, each failure a 503 problem, no call slower than 10 s, calls
 * fine again within 10 s of `overAt` (the promotion) and many of them since, and every
 * acknowledged push stored. Returns the figures for the caller's own checks.
 */
export async function expectFailoverOutcome(
  stack: TestStack,
  load: ReturnType<typeof startFailoverLoad>,
  timing: { label: string; killedAt: number; overAt: number; overName: string },
): Promise<FailoverFigures> {
  const { killedAt, overAt } = timing;
  await load.settled();
  await load.stop();
  const f = figures(load.calls, killedAt, load.counters);
  process.stdout.write(
    `\n${timing.label} failover: ${JSON.stringify({ [timing.overName]: overAt - killedAt, ...f, failures: undefined })}\n`,
  );
  expect(f.failures.filter((c) => c.status === -1)).toEqual([]);
  expectOnlyFailoverProblems(f.failures, stack.logs());
  expect(f.slowestCallMs).toBeLessThan(10_000);
  // Usually well under a second after the promotion; 10 s of slack for a loaded CI machine.
  expect(f.recoveredAfterMs).toBeLessThan(overAt - killedAt + 10_000);
  expect(load.calls.filter((c) => c.start > killedAt + f.recoveredAfterMs).length).toBeGreaterThan(
    20,
  );
  await expectAckedEntriesStored(stack, load.acked);
  expect(load.acked.size).toBeGreaterThan(10);
  return f;
}
