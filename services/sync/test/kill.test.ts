import type { Entry, PushReply } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, startServiceProcess } from '../../../test-support/processes.js';
import type { SyncApp } from '../src/app.js';
import { type Harness, newUserId, pullAll, syncHarness } from './helpers.js';

let h: Harness;
let reader: SyncApp;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  h = await syncHarness('sync_kill');
  reader = await h.build();
}, 120_000);
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await h.close();
});

async function startSync(): Promise<ServiceProcess> {
  const env = h.env({ LOG_LEVEL: 'warn' });
  const proc = await startServiceProcess('sync', env);
  started.push(proc);
  return proc;
}

interface Attempt {
  id: string;
  content: Record<string, unknown>;
  revision?: number;
}

describe('a sync process killed with SIGKILL in the middle of pushes', () => {
  it('leaves the feed complete and consistent for readers after a restart', async () => {
    const token = await h.token(newUserId('killed'));
    let target = await startSync();
    const attempts: Attempt[] = [];
    let stop = false;
    let failures = 0;
    // Every answered push: a retry of changes already applied is accepted as is (same state),
    // so a conflict here would mean a push applied twice or lost its base.
    const conflicts: unknown[] = [];

    // Writers: each creates entries and edits the previous one, retrying an unanswered push
    // (same changes) until it is answered.
    const writers = Array.from({ length: 4 }, async (_, w) => {
      let previous: { id: string; revision: number } | undefined;
      for (let n = 0; !stop; n++) {
        const fresh: Attempt = { id: `w${w}-${n}`, content: { w, n } };
        const changes: Record<string, unknown>[] = [
          { id: fresh.id, baseRevision: 0, content: fresh.content },
        ];
        const edit: Attempt | undefined = previous
          ? { id: previous.id, content: { w, n, edited: true } }
          : undefined;
        if (edit && previous)
          changes.push({ id: edit.id, baseRevision: previous.revision, content: edit.content });
        attempts.push(fresh, ...(edit ? [edit] : []));
        let reply: PushReply | undefined;
        while (!reply) {
          try {
            const res = await fetch(`${target.url}/sync/push`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ changes, deviceId: `writer-${w}` }),
              signal: AbortSignal.timeout(5_000),
            });
            if (res.status !== 200) throw new Error(`status ${res.status}`);
            reply = (await res.json()) as PushReply;
          } catch {
            // Unanswered (the process died, or is not back yet): retry the same changes.
            failures += 1;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        conflicts.push(...reply.conflicts);
        for (const a of reply.accepted) {
          const attempt = a.id === fresh.id ? fresh : edit;
          if (attempt) attempt.revision = a.revision;
        }
        // Without an accepted revision for the new entry the next edit could not be based on it.
        if (fresh.revision === undefined) break;
        previous = { id: fresh.id, revision: fresh.revision };
      }
    });

    // A reader following the feed on another process the whole time.
    const seen: Entry[] = [];
    let cursor = 0;
    const follow = (async () => {
      while (!stop) {
        const page = await pullAll(reader, token, cursor, 5);
        seen.push(...page.entries);
        cursor = page.cursor;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    await new Promise((r) => setTimeout(r, 800));
    const killed = target;
    await killed.stop('SIGKILL');
    expect(killed.child.signalCode).toBe('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    target = await startSync();
    await new Promise((r) => setTimeout(r, 800));
    stop = true;
    await Promise.all([...writers, follow]);
    const rest = await pullAll(reader, token, cursor, 5);
    seen.push(...rest.entries);

    expect(failures).toBeGreaterThan(0);
    expect(conflicts).toEqual([]);
    // The follower never saw a revision twice and saw them in order.
    const revisions = seen.map((e) => e.revision);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(new Set(revisions).size).toBe(revisions.length);
    // Its state equals a fresh full pull, on the restarted process too.
    const fromNew = await fetch(`${target.url}/sync/changes?since=0&limit=1000`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const finalEntries = ((await fromNew.json()) as { changes: Entry[] }).changes;
    const final = new Map(finalEntries.map((e) => [e.id, e]));
    const followed = new Map(seen.map((e) => [e.id, e]));
    expect(followed).toEqual(final);
    // Every acknowledged change is there (or its entry moved on to a later acknowledged edit).
    for (const attempt of attempts.filter((a) => a.revision !== undefined)) {
      const entry = final.get(attempt.id);
      expect(entry, attempt.id).toBeDefined();
      expect(entry?.revision, attempt.id).toBeGreaterThanOrEqual(attempt.revision as number);
      if (entry?.revision === attempt.revision) expect(entry?.content).toEqual(attempt.content);
    }
    // Nothing the server holds came from nowhere.
    for (const entry of final.values()) {
      expect(
        attempts.some(
          (a) => a.id === entry.id && JSON.stringify(a.content) === JSON.stringify(entry.content),
        ),
      ).toBe(true);
    }
  }, 60_000);
});
