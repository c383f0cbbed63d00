import type { Db } from 'mongodb';
import type { Ack, FollowerLog, StoreVersion } from './model.js';
import { prng, sleep } from './model.js';
import { pullOnce, pushUntilAnswered, type Workload } from './workload.js';

/** Steps of the history checker's phases that read the store or drive one follower or device. */

/** Every version of the user in `entry_versions`, superseded ones and seals included. */
export async function readStore(db: Db, userId: string): Promise<StoreVersion[]> {
  const docs = await db.collection('entry_versions').find({ userId }).toArray();
  return docs.map((d) => ({
    id: d.id as string,
    revision: d.revision as number,
    deleted: d.deleted as boolean,
    content: d.content === null ? null : JSON.parse(d.content as string),
    updatedAt: (d.updatedAt as Date).getTime(),
    superseded: d.superseded === true,
    seal: (d.id as string).startsWith('~'),
  }));
}

/** Plain pulls from the follower's cursor until it is at `target` with nothing more. */
export async function catchUp(w: Workload, log: FollowerLog, target: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await pullOnce(w, log, { limit: 100, wait: 0 });
    if (r.status === 200 && 'page' in r && !r.page.hasMore && log.cursor >= target) return;
    if (r.status !== 200) log.unexpected.push(`catch-up pull answered ${r.status}`);
    if (Date.now() > deadline) throw new Error(`${log.name} did not reach ${target}`);
    if (r.status !== 200) await sleep(200);
  }
}

/** Creates `n` fresh entries `<label>-<i>`, one push each, retried until acknowledged. */
export async function pushFresh(w: Workload, label: string, n: number): Promise<Ack[]> {
  const rng = prng(w.seed, 300);
  const acks: Ack[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${label}-${i}`;
    const content = { label, i, nonce: rng.hex(6) };
    const key = `h${w.seed}-${label}-${i}`;
    const body = { changes: [{ id, baseRevision: 0, content }], deviceId: 'device-restore' };
    const reply = await pushUntilAnswered(w, rng, body, key);
    const a = reply?.accepted.find((x) => x.id === id);
    if (!a) throw new Error(`${key} was not accepted: ${JSON.stringify(reply)}`);
    acks.push({
      id,
      revision: a.revision,
      deleted: false,
      content,
      key,
      device: -1,
      at: Date.now(),
    });
  }
  return acks;
}

/** A line of progress every 10 s while the workload runs (a stuck run shows where). */
export function reportProgress(w: Workload, followers: FollowerLog[], faults: () => number) {
  const started = Date.now();
  return setInterval(() => {
    const state = {
      s: Math.round((Date.now() - started) / 1000),
      pushes: w.counters.pushes,
      acked: w.acks.length,
      inFlight: w.inFlight,
      faults: faults(),
      cursors: followers.map((f) => f.cursor),
      violations: w.violations.slice(0, 2),
    };
    process.stdout.write(`history: ${JSON.stringify(state)}\n`);
  }, 10_000);
}
