import { JournalError } from './errors.js';
import type { Emitter } from './events.js';
import { errorFromResponse, type Http, type RequestOptions, readJson } from './http.js';
import type { StoredTokens, TokenStore } from './tokens.js';
import type { DeviceSession, User } from './types.js';
import { isObject } from './util.js';
import * as v from './validate.js';

/** Refresh this long before the access token's expiry, to absorb clock skew and latency. */
const EXPIRY_SKEW_MS = 30_000;

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

function webLocks(): LockManagerLike | undefined {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks && typeof locks.request === 'function' ? locks : undefined;
}

export interface Credentials {
  username: string;
  password: string;
  deviceName?: string;
}

/**
 * Sign-in state and authenticated requests. Refresh is single-flight: concurrent callers in
 * this instance share one refresh; across instances sharing a token store, refreshes run one at
 * a time (Web Locks, else the store's lock) and a caller that waited re-reads the store and
 * uses the tokens the other one got instead of refreshing again (a used refresh token would
 * end the session).
 */
export class Auth {
  private cached: StoredTokens | null = null;
  private inflight: Promise<StoredTokens> | undefined;
  /** Device tokens by username when the store cannot keep them (this instance's lifetime). */
  private readonly deviceTokens = new Map<string, string>();

  constructor(
    private readonly http: Http,
    private readonly store: TokenStore,
    private readonly events: Emitter,
  ) {
    const t = store.get();
    if (!(t instanceof Promise)) this.cached = t;
    else void t.then((x) => (this.cached = x));
  }

  /** Whether tokens are present (as of the last read of the store). */
  isSignedIn(): boolean {
    const t = this.store.get();
    if (!(t instanceof Promise)) this.cached = t;
    return this.cached !== null;
  }

  private async tokens(): Promise<StoredTokens | null> {
    this.cached = await this.store.get();
    return this.cached;
  }

  private async save(t: StoredTokens | null): Promise<void> {
    await this.store.set(t);
    this.cached = t;
  }

  private async deviceToken(username: string): Promise<string | null> {
    const key = username.toLowerCase();
    if (this.store.getDeviceToken) return (await this.store.getDeviceToken(key)) ?? null;
    return this.deviceTokens.get(key) ?? null;
  }

  private async saveDeviceToken(username: string, token: string | null): Promise<void> {
    const key = username.toLowerCase();
    if (this.store.setDeviceToken) await this.store.setDeviceToken(key, token);
    else if (token === null) this.deviceTokens.delete(key);
    else this.deviceTokens.set(key, token);
  }

  private async startSession(path: string, body: Credentials): Promise<User> {
    const isLogin = path === '/auth/login';
    const deviceToken = isLogin ? await this.deviceToken(body.username) : null;
    let res = await this.http.send(path, {
      method: 'POST',
      json: deviceToken ? { ...body, deviceToken } : body,
    });
    // A stored token the server refuses to parse (or a server that predates device tokens):
    // forget it and log in as an untrusted client.
    if (deviceToken && res.status === 400 && (await res.clone().text()).includes('deviceToken')) {
      await this.saveDeviceToken(body.username, null);
      res = await this.http.send(path, { method: 'POST', json: body });
    }
    if (!res.ok) throw await errorFromResponse(res);
    const reply = await readJson(res);
    const s = v.session(reply, 'session');
    // Kept per username across sign-out: the next login of this username from this device
    // sends it, and a stranger's failed logins cannot lock this device out.
    if (isObject(reply) && typeof reply.deviceToken === 'string') {
      await this.saveDeviceToken(body.username, reply.deviceToken);
    }
    await this.save({
      accessToken: s.accessToken,
      refreshToken: s.refreshToken,
      expiresAt: Date.now() + s.expiresIn * 1000,
      user: s.user,
    });
    return s.user;
  }

  register(body: Credentials): Promise<User> {
    return this.startSession('/auth/register', body);
  }

  login(body: Credentials): Promise<User> {
    return this.startSession('/auth/login', body);
  }

  /** Ends this session (or every session of the user) and clears the local tokens. */
  async logout(opts: { allDevices?: boolean } = {}): Promise<void> {
    try {
      const res = await this.request('/auth/logout', {
        method: 'POST',
        json: opts.allDevices ? { allDevices: true } : {},
      });
      if (!res.ok && res.status !== 401) throw await errorFromResponse(res);
    } catch (err) {
      if (!(err instanceof JournalError && err.code === 'signed_out')) throw err;
    }
    await this.signOut('logout');
  }

  /** The signed-in user as the stored session names it (no request), or null. */
  async currentUser(): Promise<User | null> {
    return (await this.tokens())?.user ?? null;
  }

  async me(): Promise<User> {
    return v.user(await this.json('/auth/me'), 'me');
  }

  async sessions(): Promise<DeviceSession[]> {
    return v.deviceSessions(await this.json('/auth/sessions'), 'sessions');
  }

  /** Ends one session (an id from `sessions()`); ending the current one signs out here. */
  async revokeSession(id: string): Promise<void> {
    const current = (await this.sessions()).find((s) => s.id === id)?.current ?? false;
    const res = await this.request(`/auth/sessions/${encodeURIComponent(id)}`, {
      method: 'DELETE',
    });
    if (!res.ok) throw await errorFromResponse(res);
    if (current) await this.signOut('revoked');
  }

  /** Changes the password; every other session of the user ends, this one stays. */
  async changePassword(body: { currentPassword: string; newPassword: string }): Promise<void> {
    const res = await this.request('/auth/password', { method: 'POST', json: body });
    if (!res.ok) throw await errorFromResponse(res);
  }

  /** Deletes the account and everything in it (the server finishes within about a minute). */
  async deleteAccount(body: { password: string }): Promise<{ deletedAt: string }> {
    const res = await this.request('/auth/account', { method: 'DELETE', json: body });
    if (!res.ok) throw await errorFromResponse(res);
    const reply = (await readJson(res)) as { deletedAt?: unknown };
    // The account is gone: its device token can never help again.
    const username = (await this.tokens())?.user.username;
    if (username) await this.saveDeviceToken(username, null);
    await this.signOut('logout');
    return { deletedAt: typeof reply?.deletedAt === 'string' ? reply.deletedAt : '' };
  }

  /** Clears the tokens and tells the app (once per sign-in). */
  async signOut(reason: 'revoked' | 'logout' | 'expired'): Promise<void> {
    const had = (await this.tokens()) !== null;
    await this.save(null);
    if (had) this.events.emit('signedOut', { reason });
  }

  /** An authenticated call answered 2xx, as parsed JSON. */
  async json(path: string, opts: RequestOptions = {}): Promise<unknown> {
    const res = await this.request(path, opts);
    if (!res.ok) throw await errorFromResponse(res);
    return readJson(res);
  }

  /**
   * An authenticated request: refreshes first when the access token has (nearly) expired, and
   * on a 401 refreshes and retries once. Resolves with any other answer; a session that can no
   * longer be refreshed rejects with `signed_out` (after the `signedOut` event).
   */
  async request(path: string, opts: RequestOptions = {}): Promise<Response> {
    let t = await this.tokens();
    if (!t) throw new JournalError('signed_out', 'not signed in');
    if (t.expiresAt - EXPIRY_SKEW_MS <= Date.now()) t = await this.refresh(t);
    const first = await this.http.send(path, withBearer(opts, t.accessToken));
    if (first.status !== 401) return first;
    const err = await errorFromResponse(first);
    if (err.code === 'invalid_credentials') return problemResponse(err);
    t = await this.refresh(t);
    return this.http.send(path, withBearer(opts, t.accessToken));
  }

  /**
   * New tokens in place of `stale` (the pair whose access token was found expired or refused).
   * Concurrent callers share one refresh request.
   */
  refresh(stale: StoredTokens): Promise<StoredTokens> {
    this.inflight ??= this.exclusive(() => this.refreshLocked(stale)).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const locks = webLocks();
    if (locks && this.store.lockName) return locks.request(this.store.lockName, fn);
    if (this.store.lock) return this.store.lock(fn);
    return fn();
  }

  private async refreshLocked(stale: StoredTokens): Promise<StoredTokens> {
    const current = await this.tokens();
    if (!current) throw new JournalError('signed_out', 'not signed in');
    // Another instance (tab) refreshed while we waited for the lock: use its tokens. (Compare
    // refresh tokens: two access tokens minted in the same second can be byte-identical.)
    if (current.refreshToken !== stale.refreshToken) {
      return current;
    }
    const res = await this.http.send('/auth/refresh', {
      method: 'POST',
      json: { refreshToken: current.refreshToken },
    });
    if (res.status === 401 || res.status === 400) {
      const err = await errorFromResponse(res);
      // Only if no one replaced the tokens meanwhile (then ours were simply stale).
      const now = await this.tokens();
      if (now && now.refreshToken !== current.refreshToken) return now;
      await this.signOut('revoked');
      throw new JournalError('signed_out', `the session has ended: ${err.message}`, {
        status: res.status,
        cause: err,
      });
    }
    if (!res.ok) throw await errorFromResponse(res);
    const s = v.session(await readJson(res), 'refresh');
    const next: StoredTokens = {
      accessToken: s.accessToken,
      refreshToken: s.refreshToken,
      expiresAt: Date.now() + s.expiresIn * 1000,
      user: s.user,
    };
    await this.save(next);
    return next;
  }
}

function withBearer(opts: RequestOptions, token: string): RequestOptions {
  return { ...opts, headers: { ...opts.headers, authorization: `Bearer ${token}` } };
}

function problemResponse(err: JournalError): Response {
  return new Response(JSON.stringify(err.problem ?? { code: err.code, detail: err.message }), {
    status: err.status,
    headers: { 'content-type': 'application/problem+json' },
  });
}
