import Database from 'better-sqlite3';
import type { LocalStore, StoredEntry, StoreTx } from './store.js';
import { Mutex } from './util.js';

interface Row {
  id: string;
  content: string | null;
  deleted: number;
  revision: number;
  seq: number;
  updated_at: string;
}

function fromRow(r: Row | undefined): StoredEntry | undefined {
  if (!r) return undefined;
  return {
    id: r.id,
    content: r.content === null ? null : (JSON.parse(r.content) as Record<string, unknown>),
    deleted: r.deleted === 1,
    revision: r.revision,
    seq: r.seq,
    pending: r.seq > 0,
    updatedAt: r.updated_at,
  };
}

/**
 * A durable store for Node and desktop apps: one SQLite file (better-sqlite3, WAL, synchronous
 * FULL), so an edit, the outbox and the cursor survive a crash at any point.
 * `import { SqliteStore } from '@journal/client/sqlite'`.
 */
export class SqliteStore implements LocalStore {
  private db: Database.Database | undefined;
  private readonly mutex = new Mutex();
  private stmts:
    | {
        get: Database.Statement<[string], Row>;
        put: Database.Statement<[string, string | null, number, number, number, string]>;
        remove: Database.Statement<[string]>;
        getMeta: Database.Statement<[string], { value: string }>;
        setMeta: Database.Statement<[string, string]>;
        delMeta: Database.Statement<[string]>;
      }
    | undefined;

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    if (this.db) return;
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS entries (
        id TEXT PRIMARY KEY,
        content TEXT,
        deleted INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        updated_at TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS entries_pending ON entries (seq) WHERE seq > 0;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    `);
    this.stmts = {
      get: db.prepare('SELECT * FROM entries WHERE id = ?'),
      put: db.prepare(
        'INSERT OR REPLACE INTO entries (id, content, deleted, revision, seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      remove: db.prepare('DELETE FROM entries WHERE id = ?'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      delMeta: db.prepare('DELETE FROM meta WHERE key = ?'),
    };
    this.db = db;
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      this.db?.close();
      this.db = undefined;
      this.stmts = undefined;
    });
  }

  private get s() {
    if (!this.stmts) throw new Error('SqliteStore: open() first');
    return this.stmts;
  }

  private get handle(): Database.Database {
    if (!this.db) throw new Error('SqliteStore: open() first');
    return this.db;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.open();
      const s = this.s;
      const tx: StoreTx = {
        get: (id) => fromRow(s.get.get(id)),
        put: (e) =>
          void s.put.run(
            e.id,
            e.content === null ? null : JSON.stringify(e.content),
            e.deleted ? 1 : 0,
            e.revision,
            e.seq,
            e.updatedAt,
          ),
        remove: (id) => void s.remove.run(id),
        getMeta: (k) => s.getMeta.get(k)?.value,
        setMeta: (k, v) => void (v === undefined ? s.delMeta.run(k) : s.setMeta.run(k, v)),
      };
      // Transactions are serialised by the mutex, so BEGIN/COMMIT may span awaits.
      this.handle.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(tx);
        this.handle.exec('COMMIT');
        return out;
      } catch (err) {
        this.handle.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async all(): Promise<StoredEntry[]> {
    await this.open();
    return (this.handle.prepare('SELECT * FROM entries ORDER BY id').all() as Row[]).map(
      (r) => fromRow(r) as StoredEntry,
    );
  }

  async pending(limit: number): Promise<StoredEntry[]> {
    await this.open();
    const rows = this.handle
      .prepare('SELECT * FROM entries WHERE seq > 0 ORDER BY seq LIMIT ?')
      .all(Math.min(limit, Number.MAX_SAFE_INTEGER)) as Row[];
    return rows.map((r) => fromRow(r) as StoredEntry);
  }

  removeSettled(): Promise<void> {
    return this.mutex.run(async () => {
      await this.open();
      this.handle.prepare('DELETE FROM entries WHERE seq = 0').run();
    });
  }

  clear(): Promise<void> {
    return this.mutex.run(async () => {
      await this.open();
      this.handle.exec('DELETE FROM entries; DELETE FROM meta;');
    });
  }
}
