/**
 * A thin stand-in for `@journal/client`: the subset of the SDK's public API (SDK-API.md) that
 * the web app uses, over fetch, with the local journal and its outbox in localStorage. The app
 * imports it only through `client.ts`, so switching to the SDK is a one-line change there.
 */
import { strToU8, zipSync } from 'fflate';

export interface Session {
  id: string;
  deviceName: string;
  createdAt: string;
  lastUsedAt: string;
  current: boolean;
}
export interface User {
  id: string;
  username: string;
  createdAt: string;
}
export interface LocalEntry {
  id: string;
  content: Record<string, unknown> | null;
  revision: number;
  deleted: boolean;
  pending: boolean;
  updatedAt: string;
}
export interface ServerEntry {
  id: string;
  revision: number;
  deleted: boolean;
  content: Record<string, unknown> | null;
  clientUpdatedAt?: string;
  updatedAt: string;
  deviceId?: string;
}
export interface Conflict {
  id: string;
  local: LocalEntry;
  server: ServerEntry;
}
export interface Attachment {
  id: string;
  size: number;
  contentType: string;
  sha256: string;
  createdAt: string;
}
export type SyncStatus = 'idle' | 'syncing' | 'live' | 'offline' | 'signed_out' | 'error';
type SignedOutReason = 'revoked' | 'logout' | 'expired';

interface Events {
  change: { ids: string[]; source: 'local' | 'remote' };
  conflict: Conflict;
  status: SyncStatus;
  signedOut: { reason: SignedOutReason };
}

/** A typed failure: `code` is the API problem code, or 'network' / 'bad_reply'. */
export class JournalError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly errors: { path: string; message: string }[] = [],
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'JournalError';
  }
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
  user: User;
}

interface Outgoing {
  baseRevision: number;
  content: Record<string, unknown> | null;
  deleted: boolean;
  clientUpdatedAt: string;
  seq: number;
}

interface State {
  cursor: number;
  entries: Record<string, LocalEntry>;
  outbox: Record<string, Outgoing>;
  conflicts: Record<string, Conflict>;
  seq: number;
}

const TOKENS_KEY = 'journal.tokens';
const DEVICE_KEY = 'journal.deviceId';

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(36).padStart(2, '0'))
    .join('')
    .slice(0, 20);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

export interface ClientOptions {
  baseUrl: string;
  deviceId?: string;
  fetch?: typeof fetch;
}

export class JournalClient {
  readonly baseUrl: string;
  readonly deviceId: string;
  private readonly fetchFn: typeof fetch;
  private tokens: Tokens | undefined;
  private state: State | undefined;
  private listeners = new Map<keyof Events, Set<(e: never) => void>>();
  private refreshing: Promise<boolean> | undefined;
  private running = false;
  private pollAbort: AbortController | undefined;
  private wake: AbortController = new AbortController();
  private pushing: Promise<void> | undefined;
  private statusValue: SyncStatus = 'idle';

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, '');
    this.fetchFn = options.fetch ?? fetch.bind(globalThis);
    this.deviceId = options.deviceId ?? localStorage.getItem(DEVICE_KEY) ?? randomId();
    localStorage.setItem(DEVICE_KEY, this.deviceId);
    const saved = localStorage.getItem(TOKENS_KEY);
    if (saved) {
      try {
        this.tokens = JSON.parse(saved) as Tokens;
      } catch {
        localStorage.removeItem(TOKENS_KEY);
      }
    }
  }

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as (e: never) => void);
    return () => {
      set.delete(fn as (e: never) => void);
    };
  }

  private emit<K extends keyof Events>(event: K, payload: Events[K]) {
    for (const fn of this.listeners.get(event) ?? []) (fn as (e: Events[K]) => void)(payload);
  }

  get user(): User | undefined {
    return this.tokens?.user;
  }

  // ---- HTTP ----

  private async request(
    path: string,
    init: RequestInit & { auth?: boolean } = {},
  ): Promise<Response> {
    const { auth = true, ...rest } = init;
    const send = () => {
      const headers = new Headers(rest.headers);
      if (auth && this.tokens) headers.set('authorization', `Bearer ${this.tokens.accessToken}`);
      return this.fetchFn(`${this.baseUrl}${path}`, { ...rest, headers });
    };
    let res: Response;
    try {
      res = await send();
      if (res.status === 401 && auth && this.tokens && !(await this.wrongPassword(res))) {
        if (await this.refresh()) res = await send();
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new JournalError('network', 0, 'The server could not be reached.');
    }
    if (res.ok || res.status === 304) return res;
    throw await this.problem(res, auth);
  }

  /** A 401 that says a password was wrong (not that the session is over). */
  private async wrongPassword(res: Response): Promise<boolean> {
    try {
      const body = (await res.clone().json()) as { code?: string };
      return body.code === 'invalid_credentials';
    } catch {
      return false;
    }
  }

  private async problem(res: Response, auth: boolean): Promise<JournalError> {
    let body: { code?: string; detail?: string; title?: string; errors?: [] } = {};
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // not a problem document (a proxy's error page, say)
    }
    const retryAfter = Number(res.headers.get('retry-after') ?? '') || undefined;
    const code =
      body.code ?? (res.status >= 502 && res.status <= 504 ? 'upstream_unavailable' : 'bad_reply');
    if (res.status === 401 && auth && this.tokens && code !== 'invalid_credentials')
      this.signOutLocally(code === 'token_expired' ? 'expired' : 'revoked');
    return new JournalError(
      code,
      res.status,
      body.detail ?? body.title ?? res.statusText,
      body.errors ?? [],
      retryAfter,
    );
  }

  private async json<T>(path: string, init: RequestInit & { auth?: boolean } = {}): Promise<T> {
    const headers = new Headers(init.headers);
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    const res = await this.request(path, { ...init, headers });
    if (res.status === 204) return undefined as T;
    try {
      return (await res.json()) as T;
    } catch {
      throw new JournalError('bad_reply', res.status, 'The server answered something unreadable.');
    }
  }

  /** One refresh at a time; false when the session is over. */
  private refresh(): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    const run = (async () => {
      const tokens = this.tokens;
      if (!tokens) return false;
      try {
        const res = await this.fetchFn(`${this.baseUrl}/auth/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refreshToken: tokens.refreshToken }),
        });
        if (!res.ok) return false;
        this.setTokens((await res.json()) as Tokens);
        return true;
      } catch {
        return false;
      }
    })();
    this.refreshing = run;
    void run.finally(() => {
      if (this.refreshing === run) this.refreshing = undefined;
    });
    return run;
  }

  private setTokens(session: Tokens) {
    this.tokens = {
      accessToken: session.accessToken,
      refreshToken: session.refreshToken,
      user: session.user,
    };
    localStorage.setItem(TOKENS_KEY, JSON.stringify(this.tokens));
    this.state = undefined;
  }

  /** Forgets the tokens; the local journal and its outbox stay for the next sign-in. */
  private signOutLocally(reason: SignedOutReason) {
    if (!this.tokens) return;
    this.tokens = undefined;
    localStorage.removeItem(TOKENS_KEY);
    this.state = undefined;
    this.running = false;
    this.pollAbort?.abort();
    this.wake.abort();
    this.setStatus('signed_out');
    this.emit('signedOut', { reason });
  }

  // ---- auth ----

  readonly auth = {
    register: async (body: { username: string; password: string; deviceName?: string }) => {
      const s = await this.json<Tokens>('/auth/register', {
        method: 'POST',
        body: JSON.stringify(body),
        auth: false,
      });
      this.setTokens(s);
      return s.user;
    },
    login: async (body: { username: string; password: string; deviceName?: string }) => {
      const s = await this.json<Tokens>('/auth/login', {
        method: 'POST',
        body: JSON.stringify(body),
        auth: false,
      });
      this.setTokens(s);
      return s.user;
    },
    logout: async (body: { allDevices?: boolean } = {}) => {
      try {
        await this.json<void>('/auth/logout', { method: 'POST', body: JSON.stringify(body) });
      } finally {
        this.signOutLocally('logout');
      }
    },
    me: () => this.json<User>('/auth/me'),
    sessions: async () => (await this.json<{ sessions: Session[] }>('/auth/sessions')).sessions,
    revokeSession: async (id: string) => {
      await this.json<void>(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    },
    changePassword: (body: { currentPassword: string; newPassword: string }) =>
      this.json<void>('/auth/password', { method: 'POST', body: JSON.stringify(body) }),
    deleteAccount: async (body: { password: string }) => {
      const userId = this.tokens?.user.id;
      const res = await this.json<{ deletedAt: string }>('/auth/account', {
        method: 'DELETE',
        body: JSON.stringify(body),
      });
      if (userId) localStorage.removeItem(`journal.state.${userId}`);
      this.signOutLocally('logout');
      return res;
    },
    isSignedIn: () => this.tokens !== undefined,
  };

  // ---- local store ----

  private get s(): State {
    if (!this.state) {
      const key = this.stateKey();
      const raw = key ? localStorage.getItem(key) : null;
      this.state = raw
        ? (JSON.parse(raw) as State)
        : { cursor: 0, entries: {}, outbox: {}, conflicts: {}, seq: 0 };
    }
    return this.state;
  }

  private stateKey(): string | undefined {
    return this.tokens ? `journal.state.${this.tokens.user.id}` : undefined;
  }

  private persist() {
    const key = this.stateKey();
    if (key && this.state) localStorage.setItem(key, JSON.stringify(this.state));
  }

  readonly entries = {
    put: async (id: string | undefined, content: Record<string, unknown>) =>
      this.writeLocal(id ?? randomId(), content, false),
    delete: async (id: string) => {
      this.writeLocal(id, null, true);
    },
    get: async (id: string) => this.s.entries[id],
    list: async () => Object.values(this.s.entries).filter((e) => !e.deleted),
  };

  private writeLocal(
    id: string,
    content: Record<string, unknown> | null,
    deleted: boolean,
  ): LocalEntry {
    const s = this.s;
    const now = new Date().toISOString();
    const prev = s.entries[id];
    const baseRevision = s.outbox[id]?.baseRevision ?? prev?.revision ?? 0;
    s.seq += 1;
    s.outbox[id] = { baseRevision, content, deleted, clientUpdatedAt: now, seq: s.seq };
    const entry: LocalEntry = {
      id,
      content,
      deleted,
      revision: prev?.revision ?? 0,
      pending: true,
      updatedAt: now,
    };
    s.entries[id] = entry;
    this.persist();
    this.emit('change', { ids: [id], source: 'local' });
    this.kick();
    return entry;
  }

  // ---- conflicts ----

  readonly conflicts = {
    list: () => Object.values(this.s.conflicts),
    resolve: async (id: string, choice: 'local' | 'server' | Record<string, unknown>) => {
      const s = this.s;
      const c = s.conflicts[id];
      if (!c) return;
      delete s.conflicts[id];
      const server = c.server;
      if (choice === 'server') {
        s.entries[id] = {
          id,
          content: server.content,
          deleted: server.deleted,
          revision: server.revision,
          pending: false,
          updatedAt: server.updatedAt,
        };
        delete s.outbox[id];
      } else {
        const content = choice === 'local' ? c.local.content : choice;
        const deleted = choice === 'local' ? c.local.deleted : false;
        s.seq += 1;
        s.outbox[id] = {
          baseRevision: server.revision,
          content,
          deleted,
          clientUpdatedAt: new Date().toISOString(),
          seq: s.seq,
        };
        s.entries[id] = {
          id,
          content,
          deleted,
          revision: server.revision,
          pending: true,
          updatedAt: new Date().toISOString(),
        };
      }
      this.persist();
      this.emit('change', { ids: [id], source: 'local' });
      this.kick();
    },
  };

  // ---- sync engine ----

  private setStatus(status: SyncStatus) {
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.emit('status', status);
  }

  private readonly onOnline = () => {
    this.pollAbort?.abort();
    this.kick();
  };
  private readonly onOffline = () => {
    this.setStatus('offline');
    this.pollAbort?.abort();
  };

  readonly sync = this.makeSync();

  private makeSync() {
    const self = this;
    return {
      start: () => self.startSync(),
      stop: () => self.stopSync(),
      syncNow: async () => {
        await self.push();
        await self.pull(0);
      },
      get status(): SyncStatus {
        return self.statusValue;
      },
    };
  }

  private startSync() {
    if (this.running || !this.tokens) return;
    this.running = true;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    void this.loop();
  }

  private async stopSync() {
    this.running = false;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.pollAbort?.abort();
    this.wake.abort();
  }

  /** Wakes the engine: pushes the outbox now instead of after the current wait. */
  private kick() {
    if (!this.running) return;
    if (!navigator.onLine) {
      this.setStatus('offline');
      return;
    }
    void this.push().catch(() => {});
    this.wake.abort();
  }

  private async loop() {
    let backoff = 500;
    let live = false;
    while (this.running && this.tokens) {
      try {
        if (!navigator.onLine) throw new JournalError('network', 0, 'offline');
        if (!live) this.setStatus('syncing');
        await this.push();
        const hasMore = await this.pull(live ? 25 : 0);
        live = !hasMore;
        if (live) this.setStatus('live');
        backoff = 500;
      } catch (err) {
        if (!this.running || !this.tokens) break;
        live = false;
        if ((err as Error).name === 'AbortError') continue;
        const e = err as JournalError;
        if (e.code === 'resync_required') {
          this.s.cursor = 0;
          this.persist();
          continue;
        }
        this.setStatus(e.code === 'network' ? 'offline' : 'error');
        this.wake = new AbortController();
        await sleep(e.retryAfter ? e.retryAfter * 1000 : backoff, this.wake.signal);
        backoff = Math.min(backoff * 2, 8000);
      }
    }
  }

  /** One push run at a time (it pushes until the outbox is empty). */
  private push(): Promise<void> {
    if (this.pushing) return this.pushing;
    const run = (async () => {
      for (let round = 0; round < 20; round++) {
        const s = this.s;
        const ids = Object.keys(s.outbox).slice(0, 500);
        if (!ids.length || !this.tokens) return;
        const sent = ids.map((id) => [id, s.outbox[id]] as [string, Outgoing]);
        const reply = await this.json<{
          accepted: { id: string; revision: number }[];
          conflicts: { id: string; reason: string; current: ServerEntry | null }[];
        }>('/sync/push', {
          method: 'POST',
          body: JSON.stringify({
            deviceId: this.deviceId,
            changes: sent.map(([id, o]) => ({
              id,
              baseRevision: o.baseRevision,
              deleted: o.deleted,
              ...(o.deleted ? {} : { content: o.content }),
              clientUpdatedAt: o.clientUpdatedAt,
            })),
          }),
        });
        const st = this.s;
        const bySent = new Map(sent);
        const changed: string[] = [];
        for (const a of reply.accepted) {
          const o = bySent.get(a.id);
          const now = st.outbox[a.id];
          const entry = st.entries[a.id];
          if (entry) entry.revision = a.revision;
          if (now && o && now.seq === o.seq) {
            delete st.outbox[a.id];
            if (entry) entry.pending = false;
          } else if (now) {
            now.baseRevision = a.revision;
          }
          changed.push(a.id);
        }
        for (const c of reply.conflicts) {
          const o = bySent.get(c.id);
          const local = st.entries[c.id];
          if (!o || !local) continue;
          const server: ServerEntry = c.current ?? {
            id: c.id,
            revision: 0,
            deleted: true,
            content: null,
            updatedAt: new Date().toISOString(),
          };
          const conflict: Conflict = { id: c.id, local: { ...local }, server };
          st.conflicts[c.id] = conflict;
          delete st.outbox[c.id];
          local.pending = false;
          this.emit('conflict', conflict);
          changed.push(c.id);
        }
        this.persist();
        if (changed.length) this.emit('change', { ids: changed, source: 'local' });
      }
    })();
    this.pushing = run;
    const clear = () => {
      if (this.pushing === run) this.pushing = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  /** One pull; true when the server has more at once. */
  private async pull(wait: number): Promise<boolean> {
    this.pollAbort = new AbortController();
    const since = this.s.cursor;
    const reply = await this.json<{ changes: ServerEntry[]; revision: number; hasMore: boolean }>(
      `/sync/changes?since=${since}&limit=500&wait=${wait}`,
      { signal: this.pollAbort.signal },
    );
    const s = this.s;
    const ids: string[] = [];
    for (const c of reply.changes) {
      const local = s.entries[c.id];
      if (s.outbox[c.id] || s.conflicts[c.id]) continue; // local edits win until pushed
      if (local && local.revision >= c.revision) continue;
      s.entries[c.id] = {
        id: c.id,
        content: c.content,
        deleted: c.deleted,
        revision: c.revision,
        pending: false,
        updatedAt: c.clientUpdatedAt ?? c.updatedAt,
      };
      ids.push(c.id);
    }
    s.cursor = Math.max(s.cursor, reply.revision);
    this.persist();
    if (ids.length) this.emit('change', { ids, source: 'remote' });
    return reply.hasMore;
  }

  // ---- attachments ----

  readonly attachments = {
    upload: async (id: string, blob: Blob, opts: { contentType?: string } = {}) => {
      const bytes = await blob.arrayBuffer();
      const digest = await crypto.subtle.digest('SHA-256', bytes);
      const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join(
        '',
      );
      return this.json<Attachment>(`/attachments/${encodeURIComponent(id)}`, {
        method: 'PUT',
        body: bytes,
        headers: {
          'content-type': opts.contentType ?? (blob.type || 'application/octet-stream'),
          'x-content-sha256': hex,
        },
      });
    },
    download: async (id: string) => {
      const res = await this.request(`/attachments/${encodeURIComponent(id)}`);
      return res.blob();
    },
    list: async () => {
      const all: Attachment[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
        const page: { attachments: Attachment[]; nextCursor: string | null } = await this.json(
          `/attachments${q}`,
        );
        all.push(...page.attachments);
        cursor = page.nextCursor;
      } while (cursor);
      return all;
    },
  };

  // ---- export ----

  /** Every entry (from the server, from revision 0) and every attachment, as one zip. */
  async exportAll(): Promise<Blob> {
    const entries = new Map<string, ServerEntry>();
    let since = 0;
    for (;;) {
      const page = await this.json<{ changes: ServerEntry[]; revision: number; hasMore: boolean }>(
        `/sync/changes?since=${since}&limit=1000`,
      );
      for (const c of page.changes) entries.set(c.id, c);
      since = page.revision;
      if (!page.hasMore) break;
    }
    const files: Record<string, Uint8Array> = {
      'entries.json': strToU8(
        JSON.stringify(
          [...entries.values()].filter((e) => !e.deleted),
          null,
          2,
        ),
      ),
    };
    for (const a of await this.attachments.list()) {
      const blob = await this.attachments.download(a.id);
      files[`attachments/${a.id}`] = new Uint8Array(await blob.arrayBuffer());
    }
    return new Blob([zipSync(files) as Uint8Array<ArrayBuffer>], { type: 'application/zip' });
  }
}
