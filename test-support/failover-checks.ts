import { expect } from 'vitest';
import { type Account, client } from './client.js';
import type { Call, startFailoverLoad } from './failover-load.js';
import type { TestStack } from './stack.js';

/** What a Redis failover test checks after its load: figures, problems seen, nothing lost. */

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
