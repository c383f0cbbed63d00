import type { User } from './types.js';
import { Mutex } from './util.js';

/** What a signed-in client keeps: the token pair, when the access token expires, the user. */
export interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds when the access token expires (from the server's `expiresIn`). */
  expiresAt: number;
  user: User;
}

/**
 * Where tokens live. Synchronous or asynchronous (React Native's AsyncStorage is async).
 * Clients sharing one store share the session, and refresh it once for all of them.
 */
export interface TokenStore {
  get(): StoredTokens | null | Promise<StoredTokens | null>;
  set(tokens: StoredTokens | null): void | Promise<void>;
  /**
   * The Web Locks name that serialises refreshes across tabs/workers sharing this store
   * (used when `navigator.locks` exists).
   */
  readonly lockName?: string;
  /**
   * Runs `fn` exclusively among every client using this store in this JS context: the
   * fallback where the Web Locks API is missing (Node, React Native, older browsers).
   */
  lock?<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * The device token the server gave this device for `username` (lower-case), kept across
   * sign-out: sent with the next login of that username, it exempts this device from the
   * per-username lockout strangers can trigger. Optional: without these two methods the client
   * keeps device tokens in memory for its own lifetime.
   */
  getDeviceToken?(username: string): string | null | Promise<string | null>;
  setDeviceToken?(username: string, token: string | null): void | Promise<void>;
}

/** At most this many usernames' device tokens are kept per store (the oldest go first). */
export const MAX_DEVICE_TOKENS = 20;

/** `map` with `username` set to `token` (or removed), newest last, at most MAX_DEVICE_TOKENS. */
export function withDeviceToken(
  map: Record<string, string>,
  username: string,
  token: string | null,
): Record<string, string> {
  const next = Object.entries(map).filter(([name]) => name !== username);
  if (token !== null) next.push([username, token]);
  return Object.fromEntries(next.slice(-MAX_DEVICE_TOKENS));
}

/** Tokens in memory: gone when the process ends. Share one instance to share a session. */
export class MemoryTokenStore implements TokenStore {
  private tokens: StoredTokens | null;
  private devices: Record<string, string> = {};
  private readonly mutex = new Mutex();
  readonly lockName: string;

  constructor(initial: StoredTokens | null = null, name = 'memory') {
    this.tokens = initial;
    this.lockName = `journal-refresh:${name}`;
  }
  get(): StoredTokens | null {
    return this.tokens;
  }
  set(tokens: StoredTokens | null): void {
    this.tokens = tokens;
  }
  lock<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(fn);
  }
  getDeviceToken(username: string): string | null {
    return Object.hasOwn(this.devices, username) ? (this.devices[username] ?? null) : null;
  }
  setDeviceToken(username: string, token: string | null): void {
    this.devices = withDeviceToken(this.devices, username, token);
  }
}

const localMutexes = new Map<string, Mutex>();

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Tokens in `localStorage` (browsers): every tab of the origin shares the session. Refreshes
 * are serialised across tabs with the Web Locks API (`navigator.locks`), which every current
 * browser has; without it, within one tab only.
 */
export class LocalStorageTokenStore implements TokenStore {
  readonly lockName: string;
  private readonly storage: StorageLike;

  constructor(
    private readonly key = 'journal.tokens',
    storage?: StorageLike,
  ) {
    const s = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (!s) throw new Error('LocalStorageTokenStore: no localStorage in this environment');
    this.storage = s;
    this.lockName = `journal-refresh:${key}`;
  }
  get(): StoredTokens | null {
    const raw = this.storage.getItem(this.key);
    if (!raw) return null;
    try {
      const t = JSON.parse(raw) as StoredTokens;
      return typeof t.accessToken === 'string' && typeof t.refreshToken === 'string' ? t : null;
    } catch {
      return null;
    }
  }
  set(tokens: StoredTokens | null): void {
    if (tokens) this.storage.setItem(this.key, JSON.stringify(tokens));
    else this.storage.removeItem(this.key);
  }
  /** Device tokens live under `<key>.devices`, apart from the session: sign-out keeps them. */
  private devices(): Record<string, string> {
    try {
      const parsed: unknown = JSON.parse(this.storage.getItem(`${this.key}.devices`) ?? '{}');
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
      return Object.fromEntries(
        Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
    } catch {
      return {};
    }
  }
  getDeviceToken(username: string): string | null {
    const devices = this.devices();
    return Object.hasOwn(devices, username) ? (devices[username] ?? null) : null;
  }
  setDeviceToken(username: string, token: string | null): void {
    const next = withDeviceToken(this.devices(), username, token);
    this.storage.setItem(`${this.key}.devices`, JSON.stringify(next));
  }
  lock<T>(fn: () => Promise<T>): Promise<T> {
    let m = localMutexes.get(this.key);
    if (!m) {
      m = new Mutex();
      localMutexes.set(this.key, m);
    }
    return m.run(fn);
  }
}
