import type { Change, Entry, EntryContent, LocalEntry } from './types.js';
import { Mutex } from './util.js';

/** An entry as a LocalStore keeps it. */
export interface StoredEntry extends LocalEntry {
  /** The local edit counter of the pending edit (0 when nothing is pending). */
  seq: number;
}

/** A push in flight, persisted before it is sent so a restart resends it with the same key. */
export interface OutboxBatch {
  key: string;
  changes: Change[];
  /** The local edit each change was taken from, by entry id. */
  seqs: Record<string, number>;
}

/** The operations of one store transaction (atomic: all or nothing). */
export interface StoreTx {
  get(id: string): Promise<StoredEntry | undefined> | StoredEntry | undefined;
  put(entry: StoredEntry): Promise<void> | void;
  remove(id: string): Promise<void> | void;
  getMeta(key: string): Promise<string | undefined> | string | undefined;
  setMeta(key: string, value: string | undefined): Promise<void> | void;
}

/**
 * Where a client keeps its entries, its outbox and its sync cursor. Adapters: MemoryStore,
 * IndexedDbStore (browsers), SqliteStore (Node, from `@journal/client/sqlite`). An adapter
 * provides atomic transactions and two queries; the sync rules live in the SDK, once.
 */
export interface LocalStore {
  open(): Promise<void>;
  close(): Promise<void>;
  /** Runs `fn` atomically; transactions of one store never interleave. */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /** Every entry, tombstones included, in id order. */
  all(): Promise<StoredEntry[]>;
  /** Pending entries (seq > 0), oldest edit first. */
  pending(limit: number): Promise<StoredEntry[]>;
  /** Optional: how many entries are pending, without reading them (else `pending()` is). */
  pendingCount?(): Promise<number>;
  /** Forget every entry that has no pending edit (410 resync). */
  removeSettled(): Promise<void>;
  /** Forget everything (sign-in of another user). */
  clear(): Promise<void>;
  /**
   * Optional: remove the store itself from the device (IndexedDB: the database is deleted), after
   * `clear()`. The store opens afresh, empty, when used again.
   */
  destroy?(): Promise<void>;
}

/** Entries and metadata in memory: fast, lost when the process ends. */
export class MemoryStore implements LocalStore {
  private entries = new Map<string, StoredEntry>();
  private meta = new Map<string, string>();
  private readonly mutex = new Mutex();

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      // Writes are buffered and applied only when `fn` succeeds: all or nothing.
      const writes = new Map<string, StoredEntry | null>();
      const metaWrites = new Map<string, string | undefined>();
      const tx: StoreTx = {
        get: (id) => clone(writes.has(id) ? (writes.get(id) ?? undefined) : this.entries.get(id)),
        put: (e) => void writes.set(e.id, clone(e)),
        remove: (id) => void writes.set(id, null),
        getMeta: (k) => (metaWrites.has(k) ? metaWrites.get(k) : this.meta.get(k)),
        setMeta: (k, v) => void metaWrites.set(k, v),
      };
      const out = await fn(tx);
      for (const [id, e] of writes) {
        if (e) this.entries.set(id, e);
        else this.entries.delete(id);
      }
      for (const [k, v] of metaWrites) {
        if (v === undefined) this.meta.delete(k);
        else this.meta.set(k, v);
      }
      return out;
    });
  }

  async all(): Promise<StoredEntry[]> {
    return [...this.entries.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((e) => clone(e) as StoredEntry);
  }

  async pending(limit: number): Promise<StoredEntry[]> {
    return [...this.entries.values()]
      .filter((e) => e.seq > 0)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)
      .map((e) => clone(e) as StoredEntry);
  }

  async pendingCount(): Promise<number> {
    let n = 0;
    for (const e of this.entries.values()) if (e.seq > 0) n++;
    return n;
  }

  removeSettled(): Promise<void> {
    return this.mutex.run(async () => {
      for (const [id, e] of this.entries) if (e.seq === 0) this.entries.delete(id);
    });
  }

  clear(): Promise<void> {
    return this.mutex.run(async () => {
      this.entries.clear();
      this.meta.clear();
    });
  }
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function toLocal(e: StoredEntry): LocalEntry {
  return {
    id: e.id,
    content: e.content,
    revision: e.revision,
    deleted: e.deleted,
    pending: e.seq > 0,
    updatedAt: e.updatedAt,
  };
}

export function fromServer(e: Entry): StoredEntry {
  return {
    id: e.id,
    content: e.deleted ? null : (e.content as EntryContent),
    revision: e.revision,
    deleted: e.deleted,
    pending: false,
    seq: 0,
    updatedAt: e.updatedAt,
  };
}
