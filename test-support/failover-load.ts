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

export {
  expectAckedEntriesStored,
  expectFailoverOutcome,
  expectOnlyFailoverProblems,
  type FailoverFigures,
  figures,
} from './failover-checks.js';
