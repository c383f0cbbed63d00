import type { Attachments } from './attachments.js';
import { Auth, type Credentials } from './auth.js';
import { encryptWithPassphrase } from './crypto/index.js';
import {
  decodeHistory,
  type EncryptionApi,
  EncryptionCore,
  syncHooks,
  wireEncryption,
} from './encryption/index.js';
import { badReply, type JournalError, type QuotaName } from './errors.js';
import { type ClientEvents, Emitter, watchPending } from './events.js';
import {
  type EntryVersion,
  entryHistory,
  type HistoryOptions,
  restorableContent,
} from './history.js';
import { type FetchLike, Http } from './http.js';
import { type LocalStore, MemoryStore } from './store.js';
import {
  type Conflict,
  type ConflictResolver,
  SyncEngine,
  type SyncOptions,
  type SyncStatus,
} from './sync.js';
import { MemoryTokenStore, type TokenStore } from './tokens.js';
import type { DeviceSession, EntryContent, LocalEntry, User } from './types.js';
import { newId } from './util.js';

/** One quota: what the account uses and the limit (null: this server sets none). */
export interface QuotaReading {
  usage: number;
  limit: number | null;
}

/** `client.usage()`: the account's usage against each of its quotas. */
export type Usage = Record<QuotaName, QuotaReading>;

const QUOTAS: QuotaName[] = ['entries', 'entryBytes', 'attachments', 'attachmentBytes'];

function usageOf(body: unknown): Usage {
  const out = {} as Usage;
  for (const name of QUOTAS) {
    const r = (body as Record<string, { usage?: unknown; limit?: unknown }> | null)?.[name];
    const okUsage = typeof r?.usage === 'number' && Number.isSafeInteger(r.usage) && r.usage >= 0;
    const okLimit = r?.limit === null || (typeof r?.limit === 'number' && r.limit > 0);
    if (!r || !okUsage || !okLimit) throw badReply(`usage: ${name}`, 200);
    out[name] = { usage: r.usage as number, limit: r.limit as number | null };
  }
  return out;
}

export interface JournalClientOptions {
  /** The gateway, e.g. `https://journal.example.com`. */
  baseUrl: string;
  /** Where the session lives (default: memory). Browsers: `new LocalStorageTokenStore()`. */
  tokenStore?: TokenStore;
  /** Where entries and the outbox live (default: memory). */
  store?: LocalStore;
  /** Stored on every version this client pushes (default: a random id). */
  deviceId?: string;
  /** A `fetch` (default: the global one). */
  fetch?: FetchLike;
  /** Conflict policy (default: the server wins, the local version is kept as a new entry). */
  resolveConflict?: ConflictResolver;
  /** Tuning of the sync engine. */
  sync?: Omit<SyncOptions, 'deviceId' | 'resolver'>;
  /** Per-request timeout until the answer head arrives (default 60 s). */
  timeoutMs?: number;
}

/** The SDK's facade: `client.auth`, `client.entries`, `client.sync`, `client.attachments`. */
export class JournalClient {
  readonly auth: {
    register(body: Credentials): Promise<User>;
    login(body: Credentials): Promise<User>;
    logout(opts?: { allDevices?: boolean }): Promise<void>;
    me(): Promise<User>;
    sessions(): Promise<DeviceSession[]>;
    revokeSession(id: string): Promise<void>;
    changePassword(body: { currentPassword: string; newPassword: string }): Promise<void>;
    deleteAccount(body: { password: string }): Promise<{ deletedAt: string }>;
    isSignedIn(): boolean;
  };
  readonly entries: {
    /** Creates (id undefined: a new random id) or replaces an entry locally; queued for push. */
    put(id: string | undefined, content: EntryContent): Promise<LocalEntry>;
    /** Deletes locally; queued for push. */
    delete(id: string): Promise<void>;
    get(id: string): Promise<LocalEntry | undefined>;
    /** Every entry not deleted, in id order. */
    list(): Promise<LocalEntry[]>;
    /** How many local edits wait to be pushed. */
    pendingCount(): Promise<number>;
    /** The entry's versions kept by the server, newest first (history.ts). */
    history(id: string, opts?: HistoryOptions): Promise<EntryVersion[]>;
    /**
     * Makes a version's content the entry's content again: a new local edit (queued for push,
     * so it syncs, and can conflict, like any edit). A deletion cannot be restored this way.
     */
    restore(id: string, version: Pick<EntryVersion, 'content' | 'deleted'>): Promise<LocalEntry>;
  };
  readonly sync: {
    start(): void;
    stop(): Promise<void>;
    /** One push + pull round (transient failures retried `retries` times, default 3). */
    syncNow(retries?: number): Promise<void>;
    /** Pull until up to date, without pushing. */
    pull(): Promise<void>;
    /** Push the whole outbox, without pulling. */
    push(): Promise<void>;
    readonly status: SyncStatus;
    /** Tell the engine about connectivity (React Native NetInfo); browsers report it. */
    setOnline(online: boolean): void;
    /**
     * Set while the server refuses pushes for a quota (`err.quota` says which): those edits
     * stay in the outbox and go once a local change (e.g. a delete) frees room; deletions are
     * always pushed. Cleared by the next local change.
     */
    readonly quotaExceeded: JournalError | undefined;
  };
  readonly conflicts: {
    list(): Conflict[];
    resolve(id: string, choice: 'local' | 'server' | EntryContent): Promise<void>;
  };
  readonly attachments: Attachments;
  /** End-to-end encryption (docs/encryption.md): opt-in, for good once on. */
  readonly encryption: EncryptionApi;
  readonly deviceId: string;

  private readonly events = new Emitter();
  private readonly core: Auth;
  private readonly engine: SyncEngine;
  private readonly keyState: EncryptionCore;
  private readonly stopMigration: () => Promise<void>;

  constructor(options: JournalClientOptions) {
    const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const http = new Http(options.baseUrl, fetchImpl, options.timeoutMs);
    const tokens = options.tokenStore ?? new MemoryTokenStore();
    this.deviceId = options.deviceId ?? newId();
    const auth = new Auth(http, tokens, this.events);
    this.core = auth;
    const store = options.store ?? new MemoryStore();
    const keyState: EncryptionCore = new EncryptionCore(
      auth,
      store,
      this.events,
      this.deviceId,
      (): Promise<void> => engine.ready(),
    );
    const engine: SyncEngine = new SyncEngine(
      auth,
      store,
      this.events,
      {
        ...options.sync,
        deviceId: this.deviceId,
        ...(options.resolveConflict ? { resolver: options.resolveConflict } : {}),
      },
      syncHooks(keyState),
    );
    this.engine = engine;
    this.keyState = keyState;
    const wired = wireEncryption(keyState, engine, auth, fetchImpl);
    this.attachments = wired.attachments;
    this.encryption = wired.api;
    this.stopMigration = () => wired.migration.stop();
    this.events.on('signedOut', () => {
      void engine.signedOut();
      // The keys leave the device with the session.
      void keyState.forgetKeys();
    });
    watchPending(this.events, () => engine.pendingCount());
    const signedIn = async (user: User) => {
      await engine.bindUser(user.id);
      keyState.bind(user.id);
      // Learnt now when it can be; else before the first push or pull.
      await keyState.refresh().catch(() => {});
      return user;
    };
    this.auth = {
      register: async (body) => signedIn(await auth.register(body)),
      login: async (body) => signedIn(await auth.login(body)),
      logout: (opts) => auth.logout(opts),
      me: () => auth.me(),
      sessions: () => auth.sessions(),
      revokeSession: (id) => auth.revokeSession(id),
      changePassword: (body) => auth.changePassword(body),
      deleteAccount: (body) => auth.deleteAccount(body),
      isSignedIn: () => auth.isSignedIn(),
    };
    this.entries = {
      put: (id, content) => engine.writeLocal(id ?? newId(), content),
      delete: async (id) => {
        await engine.writeLocal(id, null);
      },
      get: (id) => engine.get(id),
      list: () => engine.list(),
      pendingCount: () => engine.pendingCount(),
      history: async (id, opts = {}) => {
        const { decode, ...rest } = opts;
        const versions = await decodeHistory(keyState, id, await entryHistory(auth, id, rest));
        if (!decode) return versions;
        return Promise.all(
          versions.map(async (v) =>
            v.content ? { ...v, content: await decode(v.content, v) } : v,
          ),
        );
      },
      restore: async (id, version) => engine.writeLocal(id, restorableContent(version)),
    };
    this.sync = {
      start: () => engine.start(),
      stop: () => engine.stop(),
      syncNow: (retries) => engine.syncNow(retries),
      pull: () => engine.pullAll(),
      push: () => engine.pushAll(),
      get status() {
        return engine.status;
      },
      get quotaExceeded() {
        return engine.quotaExceeded;
      },
      setOnline: (online) => engine.setOnline(online),
    };
    this.conflicts = {
      list: () => engine.listConflicts(),
      resolve: (id, choice) => engine.resolveConflict(id, choice),
    };
  }

  /**
   * The account's usage against each quota (`GET /usage`): entries, their bytes, attachments
   * and their bytes. A write over a quota fails with `JournalError` code `quota_exceeded`
   * (`err.quota` names it); the sync engine keeps such edits in the outbox
   * (`client.sync.quotaExceeded`).
   */
  async usage(): Promise<Usage> {
    return usageOf(await this.core.json('/usage'));
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(name: K, fn: (event: ClientEvents[K]) => void): () => void {
    return this.events.on(name, fn);
  }

  /**
   * The whole journal as a zip: `entries.json` and `attachments/<id>`, readable (an encrypted
   * journal is decrypted on the device). With `passphrase`, the zip is itself encrypted with a
   * key derived from it (import it with the same passphrase).
   */
  async exportAll(opts: { passphrase?: string } = {}): Promise<Blob> {
    await this.engine.ready();
    // Loaded when used: the zip code is no weight for an app until someone exports.
    const { exportZip } = await import('./export.js');
    const zip = await exportZip(this.core, this.attachments, this.engine.store, (entries) =>
      syncHooks(this.keyState).decodeEntries(entries),
    );
    if (opts.passphrase === undefined) return zip;
    return encryptWithPassphrase(zip, opts.passphrase);
  }

  /**
   * Removes this device's copy of the journal: every entry, the outbox (edits not yet pushed
   * are lost: push or wait for `pending` 0 first), the cursor and open conflicts; an
   * IndexedDB store is deleted. The session is not touched (sign out first or after).
   */
  async forgetLocalData(): Promise<void> {
    await this.engine.forgetLocal();
    // The keys were in the store: forgotten with it.
    this.keyState.reset();
  }

  /** Stops syncing (and this device's encryption migration) and closes the local store. */
  async close(): Promise<void> {
    await this.stopMigration();
    await this.engine.dispose();
  }
}
