import { isDeepStrictEqual } from 'node:util';
import type { Ack, FollowerLog, Page, StoreVersion, Version } from './model.js';

/**
 * The history checker: pure functions over what devices were told (acks), what each follower
 * received (pages and changes, in order) and what the store holds afterwards (every version,
 * superseded ones included). Each returns its violations as readable lines (empty: it holds).
 */

const key = (id: string, revision: number) => `${id}@${revision}`;

function sameVersion(a: Version, b: Version): boolean {
  return (
    a.id === b.id &&
    a.revision === b.revision &&
    a.deleted === b.deleted &&
    isDeepStrictEqual(a.content ?? null, b.content ?? null)
  );
}

function describe(v: Version | undefined): string {
  if (!v) return 'nothing';
  const text = v.content === null ? 'tombstone' : JSON.stringify(v.content);
  return `${v.id}@${v.revision}${v.deleted ? ' deleted' : ''} ${text.slice(0, 80)}`;
}

function describePage(p: Page | undefined, index: number): string {
  if (!p) return `page #${index} (none)`;
  return `page #${index} since=${p.since} -> revision=${p.revision} (${p.count} changes, limit=${p.limit}, wait=${p.wait}, hasMore=${p.hasMore}, answered at ${p.receivedAt})`;
}

/** Index of the store by (id, revision), and each id's versions ascending. */
export function indexStore(store: StoreVersion[]) {
  const byKey = new Map<string, StoreVersion>();
  const byId = new Map<string, StoreVersion[]>();
  for (const v of [...store].sort((a, b) => a.revision - b.revision)) {
    byKey.set(key(v.id, v.revision), v);
    if (v.seal) continue;
    const list = byId.get(v.id) ?? [];
    list.push(v);
    byId.set(v.id, list);
  }
  /** Each id's current version: its highest revision. */
  const current = new Map<string, StoreVersion>();
  for (const [id, list] of byId) current.set(id, list[list.length - 1] as StoreVersion);
  const max = store.reduce((m, v) => Math.max(m, v.revision), 0);
  const seals = store.filter((v) => v.seal).length;
  const revisions = new Set(store.map((v) => v.revision));
  return { byKey, byId, current, max, seals, revisions };
}

export type StoreIndex = ReturnType<typeof indexStore>;

/** Every acknowledged version is in the store, as acknowledged. */
export function checkAcks(acks: Ack[], store: StoreIndex): string[] {
  const out: string[] = [];
  for (const ack of acks) {
    const stored = store.byKey.get(key(ack.id, ack.revision));
    if (!stored || !sameVersion(ack, stored)) {
      out.push(
        `acknowledged ${describe(ack)} (key ${ack.key}, device ${ack.device}) is not in the store: it holds ${describe(stored)}`,
      );
    }
  }
  return out;
}

/**
 * One follower against the store (and the acks):
 * - the revisions it received strictly increase (nothing twice, in revision order);
 * - every version it received is in the store, with the same content and deletion (and is no
 *   seal: seals fill revisions no version took, and are never served);
 * - every store version (seals aside) at or below its cursor was received, unless a newer version of the
 *   same entry had been written before the page that passed it was answered (that is when a
 *   page drops a replaced version; the server's acceptance time `updatedAt` is before the
 *   insert, so a newer version accepted after the answer cannot excuse a skip);
 * - no revision at or below its cursor is a hole that can still fill (docs/sync.md: a pull
 *   seals the empty revisions it passes);
 * - every acknowledged version is at or below its cursor (it caught up);
 * - its final state per id equals the store's current versions (converged).
 */
export function checkFollower(log: FollowerLog, store: StoreIndex, acks: Ack[]): string[] {
  const out: string[] = [...log.unexpected.map((u) => `${log.name}: ${u}`)];
  const seenKeys = new Set<string>();
  let previous: (Version & { page: number }) | undefined;
  for (const s of log.seen) {
    if (previous && s.revision <= previous.revision) {
      out.push(
        `${log.name}: revision ${s.revision} (${describe(s)}) received after ${previous.revision}, in ${describePage(log.pages[s.page], s.page)}`,
      );
    }
    previous = s;
    seenKeys.add(key(s.id, s.revision));
    const stored = store.byKey.get(key(s.id, s.revision));
    if (!stored || stored.seal || !sameVersion(s, stored)) {
      out.push(
        `${log.name}: received ${describe(s)} in ${describePage(log.pages[s.page], s.page)}; the store holds ${describe(stored)}`,
      );
    }
  }
  for (let i = 1; i < log.pages.length; i++) {
    const [a, b] = [log.pages[i - 1] as Page, log.pages[i] as Page];
    if (b.since !== a.revision)
      out.push(`${log.name}: ${describePage(b, i)} did not continue ${a.revision}`);
  }
  for (const [i, p] of log.pages.entries()) {
    if (p.revision < p.since) out.push(`${log.name}: ${describePage(p, i)} moved the cursor back`);
  }

  // Nothing passed without being received, except a version replaced before the page answered.
  const versions = [...store.byKey.values()].sort((a, b) => a.revision - b.revision);
  for (const v of versions) {
    if (v.seal || v.revision > log.cursor || seenKeys.has(key(v.id, v.revision))) continue;
    const index = log.pages.findIndex((p) => p.since < v.revision && v.revision <= p.revision);
    const page = log.pages[index];
    const newer = (store.byId.get(v.id) ?? []).filter((w) => w.revision > v.revision);
    const firstNewer = Math.min(...newer.map((w) => w.updatedAt));
    if (page && newer.length > 0 && firstNewer <= page.receivedAt) continue;
    const around = log.seen
      .filter((s) => Math.abs(s.revision - v.revision) <= 3)
      .map((s) => `${s.revision}:${s.id}`)
      .join(' ');
    out.push(
      `${log.name}: never received ${describe(v)}; passed by ${describePage(page, index)}; ` +
        (newer.length > 0
          ? `the first newer version of ${v.id} was accepted at ${firstNewer}, after that answer`
          : `no newer version of ${v.id} exists`) +
        `; received nearby: ${around || 'none'}`,
    );
  }
  // No hole it passed can still fill: each revision up to its cursor holds a version or a seal
  // (the purge is off here, so no hole is below the holes horizon).
  const holes: number[] = [];
  for (let r = 1; r <= Math.min(log.cursor, store.max); r++)
    if (!store.revisions.has(r)) holes.push(r);
  if (holes.length > 0)
    out.push(
      `${log.name}: passed revisions ${holes.join(', ')}, which hold neither a version nor a seal (a later push can still take them behind it)`,
    );
  for (const ack of acks) {
    if (ack.revision > log.cursor)
      out.push(`${log.name}: cursor ${log.cursor} below acknowledged ${describe(ack)}`);
  }

  // Converged: the last version received per id is the store's current version.
  const final = new Map<string, Version>();
  for (const s of log.seen) final.set(s.id, s);
  for (const [id, cur] of store.current) {
    const mine = final.get(id);
    if (!mine || !sameVersion(mine, cur))
      out.push(
        `${log.name}: ends with ${describe(mine)} for ${id}; the store's current is ${describe(cur)}`,
      );
  }
  for (const id of final.keys()) {
    if (!store.current.has(id)) out.push(`${log.name}: holds ${id}, which the store lacks`);
  }
  return out;
}
