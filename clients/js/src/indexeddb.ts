import type { LocalStore, StoredEntry, StoreTx } from './store.js';
import { Mutex } from './util.js';

type Row = StoredEntry & { pseq?: number };

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function toRow(e: StoredEntry): Row {
  const row: Row = { ...e };
  if (e.seq > 0) row.pseq = e.seq;
  else delete row.pseq;
  return row;
}

function fromRow(r: Row | undefined): StoredEntry | undefined {
  if (!r) return undefined;
  const { pseq: _p, ...e } = r;
  return e;
}

/**
 * Entries, outbox and cursor in IndexedDB (browsers, and anything with an `indexedDB`).
 * Pending entries are found through a sparse index on their edit counter.
 */
export class IndexedDbStore implements LocalStore {
  private db: IDBDatabase | undefined;
  private readonly mutex = new Mutex();
  private readonly factory: IDBFactory;

  constructor(
    private readonly name = 'journal',
    factory?: IDBFactory,
  ) {
    const f = factory ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!f) throw new Error('IndexedDbStore: no indexedDB in this environment');
    this.factory = f;
  }

  async open(): Promise<void> {
    if (this.db) return;
    const open = this.factory.open(this.name, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      const entries = db.createObjectStore('entries', { keyPath: 'id' });
      entries.createIndex('pseq', 'pseq');
      db.createObjectStore('meta');
    };
    const db = await req(open);
    // Another tab deleting or upgrading the database: let it (this one reopens when used).
    db.onversionchange = () => {
      db.close();
      if (this.db === db) this.db = undefined;
    };
    this.db = db;
  }

  /**
   * Deletes the whole database from the device (after `clear()`, so nothing is left even while
   * another tab still holds it open and the deletion waits for that tab).
   */
  async destroy(): Promise<void> {
    await this.clear();
    await this.mutex.run(async () => {
      this.db?.close();
      this.db = undefined;
      const del = this.factory.deleteDatabase(this.name);
      await new Promise<void>((resolve, reject) => {
        del.onsuccess = () => resolve();
        del.onerror = () => reject(del.error);
        // Blocked by another tab: its onversionchange closes it and the deletion goes on; the
        // data is already cleared either way.
        del.onblocked = () => resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  private get handle(): IDBDatabase {
    if (!this.db) throw new Error('IndexedDbStore: open() first');
    return this.db;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.open();
      const t = this.handle.transaction(['entries', 'meta'], 'readwrite');
      const entries = t.objectStore('entries');
      const meta = t.objectStore('meta');
      const done = new Promise<void>((resolve, reject) => {
        t.oncomplete = () => resolve();
        t.onerror = () => reject(t.error);
        t.onabort = () => reject(t.error ?? new Error('transaction aborted'));
      });
      const tx: StoreTx = {
        get: async (id) => fromRow((await req(entries.get(id))) as Row | undefined),
        put: async (e) => void (await req(entries.put(toRow(e)))),
        remove: async (id) => void (await req(entries.delete(id))),
        getMeta: async (k) => (await req(meta.get(k))) as string | undefined,
        setMeta: async (k, v) => {
          if (v === undefined) await req(meta.delete(k));
          else await req(meta.put(v, k));
        },
      };
      let out: T;
      try {
        out = await fn(tx);
      } catch (err) {
        try {
          t.abort();
        } catch {
          // Already finished.
        }
        await done.catch(() => {});
        throw err;
      }
      await done;
      return out;
    });
  }

  async all(): Promise<StoredEntry[]> {
    await this.open();
    const rows = (await req(
      this.handle.transaction('entries').objectStore('entries').getAll(),
    )) as Row[];
    return rows.map((r) => fromRow(r) as StoredEntry);
  }

  async pending(limit: number): Promise<StoredEntry[]> {
    await this.open();
    const index = this.handle.transaction('entries').objectStore('entries').index('pseq');
    const rows = (await req(index.getAll(undefined, Math.min(limit, 2 ** 32 - 1)))) as Row[];
    return rows.map((r) => fromRow(r) as StoredEntry);
  }

  async pendingCount(): Promise<number> {
    await this.open();
    return req(this.handle.transaction('entries').objectStore('entries').index('pseq').count());
  }

  removeSettled(): Promise<void> {
    return this.mutex.run(async () => {
      await this.open();
      const t = this.handle.transaction('entries', 'readwrite');
      const store = t.objectStore('entries');
      await new Promise<void>((resolve, reject) => {
        const cursor = store.openCursor();
        cursor.onsuccess = () => {
          const c = cursor.result;
          if (!c) return resolve();
          if (!((c.value as Row).seq > 0)) c.delete();
          c.continue();
        };
        cursor.onerror = () => reject(cursor.error);
      });
      await new Promise<void>((resolve, reject) => {
        t.oncomplete = () => resolve();
        t.onerror = () => reject(t.error);
      });
    });
  }

  clear(): Promise<void> {
    return this.mutex.run(async () => {
      await this.open();
      const t = this.handle.transaction(['entries', 'meta'], 'readwrite');
      t.objectStore('entries').clear();
      t.objectStore('meta').clear();
      await new Promise<void>((resolve, reject) => {
        t.oncomplete = () => resolve();
        t.onerror = () => reject(t.error);
      });
    });
  }
}
