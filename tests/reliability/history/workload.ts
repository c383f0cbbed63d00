import type { Ack, FollowerLog, Page, Prng } from './model.js';
import { prng, sleep } from './model.js';

/**
 * The workload of the history checker: devices pushing creates, edits and deletions of a shared
 * set of entry ids with Idempotency-Keys (a push is retried with the same key and body until a
 * 200 answers it), and followers pulling the feed (long-polls and plain pulls, small and large
 * limits) recording every change in order. One seeded PRNG stream per device and per follower.
 */

/** What the whole workload shares: where sync is, the user's token, counters, stop signals. */
export interface Workload {
  url: string;
  token: string;
  seed: number;
  /** Entry ids every device writes to. */
  ids: string[];
  acks: Ack[];
  counters: {
    pushes: number;
    /** Pushes that needed more than one attempt (same key, same body). */
    retried: number;
    attempts: number;
    conflicts: number;
    large: number;
    creates: number;
    edits: number;
    deletes: number;
  };
  /** Pushes sent and not answered yet (a SIGKILL waits for one). */
  inFlight: number;
  /** Pushes to start before stopping (devices go on until `faultsDone` too). */
  ops: number;
  faultsDone: boolean;
  /** Set: followers stop once their cursor is at least this and a pull found nothing more. */
  catchUpTo?: number;
  violations: string[];
}

const PUSH_GIVE_UP_MS = 120_000;

function jsonHeaders(w: Workload, extra: Record<string, string> = {}) {
  return { authorization: `Bearer ${w.token}`, 'content-type': 'application/json', ...extra };
}

/** A content of `large` ? 9-20 KiB : a few bytes, unique by its nonce. */
function content(rng: Prng, device: number, n: number, large: boolean) {
  const text = large ? rng.hex(1).repeat(Math.floor((9 + rng.int(12)) * 512)) : rng.hex(4);
  return { device, n, nonce: rng.hex(6), text };
}

interface Change {
  id: string;
  baseRevision: number;
  deleted?: true;
  content?: Record<string, unknown>;
}

/**
 * Sends one push until a 200 answers it (the same key and body every time). Null when it
 * could not be answered (a 4xx other than 409, or nothing for two minutes): a violation.
 */
export async function pushUntilAnswered(
  w: Workload,
  rng: Prng,
  body: { changes: Change[]; deviceId: string },
  key: string,
) {
  const started = Date.now();
  w.inFlight++;
  try {
    for (let attempt = 1; ; attempt++) {
      w.counters.attempts++;
      if (attempt === 2) w.counters.retried++;
      try {
        const res = await fetch(`${w.url}/sync/push`, {
          method: 'POST',
          headers: jsonHeaders(w, { 'idempotency-key': key }),
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        if (res.status === 200)
          return JSON.parse(text) as {
            accepted: { id: string; revision: number }[];
            conflicts: { id: string; current: { revision: number; deleted: boolean } | null }[];
          };
        if (res.status !== 409 && res.status < 500) {
          w.violations.push(`push ${key} answered ${res.status}: ${text.slice(0, 300)}`);
          return null;
        }
      } catch {
        // Unanswered (sync killed, not back yet, or too slow): retry with the same key.
      }
      if (Date.now() - started > PUSH_GIVE_UP_MS) {
        w.violations.push(`push ${key} unanswered after ${attempt} attempts`);
        return null;
      }
      await sleep(100 + rng.int(200));
    }
  } finally {
    w.inFlight--;
  }
}

/** One device: 1-3 changes a push on ids picked from the shared set. */
async function device(w: Workload, d: number): Promise<void> {
  const rng = prng(w.seed, 100 + d);
  const known = new Map<string, { revision: number; deleted: boolean }>();
  for (let n = 0; w.counters.pushes < w.ops || !w.faultsDone; n++) {
    w.counters.pushes++;
    const ids = rng.shuffle(w.ids).slice(0, 1 + rng.int(3));
    const changes: Change[] = ids.map((id) => {
      const k = known.get(id);
      const large = rng.chance(0.15);
      if (!k) return { id, baseRevision: 0, content: content(rng, d, n, large) };
      if (!k.deleted && rng.chance(0.25)) return { id, baseRevision: k.revision, deleted: true };
      return { id, baseRevision: k.revision, content: content(rng, d, n, large) };
    });
    const key = `h${w.seed}-d${d}-${n}`;
    const reply = await pushUntilAnswered(w, rng, { changes, deviceId: `device-${d}` }, key);
    if (!reply) return;
    for (const a of reply.accepted) {
      const change = changes.find((c) => c.id === a.id);
      if (!change) {
        w.violations.push(`push ${key} accepted ${a.id}, which it did not send`);
        continue;
      }
      const deleted = change.deleted === true;
      w.acks.push({
        id: a.id,
        revision: a.revision,
        deleted,
        content: deleted ? null : change.content,
        key,
        device: d,
        at: Date.now(),
      });
      known.set(a.id, { revision: a.revision, deleted });
      if (deleted) w.counters.deletes++;
      else if (change.baseRevision === 0) w.counters.creates++;
      else w.counters.edits++;
      if (!deleted && JSON.stringify(change.content).length > 9 * 1024) w.counters.large++;
    }
    for (const c of reply.conflicts) {
      w.counters.conflicts++;
      if (c.current) known.set(c.id, { revision: c.current.revision, deleted: c.current.deleted });
      else known.delete(c.id);
    }
  }
}

export async function startDevices(w: Workload, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, d) => device(w, d)));
}

export function newFollower(name: string): FollowerLog {
  return { name, seen: [], pages: [], cursor: 0, errors: 0, unexpected: [] };
}

export type PullResult =
  | { status: 200; page: Page }
  | { status: number; code?: string; text: string };

/** One pull from the follower's cursor; a 200 is recorded (page, changes, cursor, generation). */
export async function pullOnce(
  w: Pick<Workload, 'url' | 'token'>,
  log: FollowerLog,
  options: { limit: number; wait: number; since?: number; generation?: string | null },
): Promise<PullResult> {
  const since = options.since ?? log.cursor;
  const generation = options.generation === undefined ? log.generation : options.generation;
  const query = new URLSearchParams({ since: String(since), limit: String(options.limit) });
  if (options.wait > 0) query.set('wait', String(options.wait));
  if (generation) query.set('generation', generation);
  const sentAt = Date.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${w.url}/sync/changes?${query}`, {
      headers: { authorization: `Bearer ${w.token}` },
      signal: AbortSignal.timeout((options.wait + 15) * 1000),
    });
    text = await res.text();
  } catch (err) {
    return { status: -1, text: String(err) };
  }
  if (res.status !== 200) {
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {}
    return { status: res.status, ...(code ? { code } : {}), text };
  }
  const body = JSON.parse(text) as {
    changes: { id: string; revision: number; deleted: boolean; content: unknown }[];
    revision: number;
    hasMore: boolean;
    generation?: string;
  };
  const page: Page = {
    since,
    revision: body.revision,
    count: body.changes.length,
    hasMore: body.hasMore,
    limit: options.limit,
    wait: options.wait,
    sentAt,
    receivedAt: Date.now(),
  };
  const index = log.pages.push(page) - 1;
  for (const c of body.changes) {
    log.seen.push({
      id: c.id,
      revision: c.revision,
      deleted: c.deleted,
      content: c.content,
      page: index,
    });
  }
  log.cursor = body.revision;
  if (body.generation !== undefined) log.generation = String(body.generation);
  return { status: 200, page };
}

/** A follower: long-polls and plain pulls with small and large limits until caught up. */
async function follow(w: Workload, log: FollowerLog, f: number): Promise<void> {
  const rng = prng(w.seed, 200 + f);
  let last: Page | undefined;
  for (;;) {
    if (w.catchUpTo !== undefined && last && !last.hasMore && log.cursor >= w.catchUpTo) return;
    const catching = w.catchUpTo !== undefined;
    const wait = !catching && rng.chance(0.5) ? 1 + rng.int(3) : 0;
    const limit = rng.pick([1, 2, 5, 20, 100, 1000]);
    const result = await pullOnce(w, log, { limit, wait });
    if (result.status === 200 && 'page' in result) {
      last = result.page;
      if (wait === 0 && !last.hasMore) await sleep(catching ? 20 : 30 + rng.int(150));
      continue;
    }
    log.errors++;
    if (result.status >= 400 && result.status < 500 && result.status !== 429) {
      log.unexpected.push(
        `pull since=${log.cursor} answered ${result.status}: ${'text' in result ? result.text.slice(0, 200) : ''}`,
      );
      if (log.unexpected.length > 20) return;
    }
    await sleep(100 + rng.int(200));
  }
}

export async function startFollowers(w: Workload, logs: FollowerLog[]): Promise<void> {
  await Promise.all(logs.map((log, f) => follow(w, log, f)));
}
