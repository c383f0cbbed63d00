import type { EncryptionEvent } from './encryption/core.js';
import type { DecryptionError } from './errors.js';
import type { ConflictEvent, SyncStatus } from './sync.js';

export interface ClientEvents {
  /** Entries changed in the local store, by a local edit or a pulled change. */
  change: { ids: string[]; source: 'local' | 'remote' };
  /** A push met a newer server version (see the conflict policy). */
  conflict: ConflictEvent;
  status: SyncStatus;
  /** The session ended: signed out here, revoked elsewhere, or the refresh token expired. */
  signedOut: { reason: 'revoked' | 'logout' | 'expired' };
  /** A sync round failed (it is retried with backoff when transient). */
  error: Error;
  /**
   * How many local edits wait to be pushed, each time that number changes (an edit, a push the
   * server accepted, a conflict settled, a sign-out that cleared the device). Read
   * `entries.pendingCount()` once for the value before the first event.
   */
  pending: { count: number };
  /**
   * A step of a sync round finished: a push batch answered by the server (`accepted` changes,
   * `conflicts` met) or a pull page applied (`applied` entries, `revision` reached, `hasMore`).
   */
  progress: SyncProgress;
  /**
   * End-to-end encryption: the state changed (off, locked, unlocked), a new key bundle was
   * adopted, or the migration of this device moved on (`migration`: its phase and counts).
   */
  encryption: EncryptionEvent;
  /**
   * A version (pulled, conflicting, in the history) or an attachment could not be decrypted:
   * it was stored nowhere and sync went on. Also listed by `encryption.failures()`.
   */
  decryptionFailed: DecryptionError;
}

export type SyncProgress =
  | { phase: 'push'; accepted: number; conflicts: number }
  | { phase: 'pull'; applied: number; revision: number; hasMore: boolean };

/**
 * Emits `pending` whenever the number of waiting edits changes: recounted after the events
 * that can change it, one count at a time and at most one every `delayMs` (a burst of writes,
 * an import of thousands of entries, costs a few counts, not one per write).
 */
export function watchPending(
  emitter: Emitter,
  count: () => Promise<number>,
  delayMs = 25,
): () => void {
  let last = -1;
  let running = false;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const recount = async () => {
    timer = undefined;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const n = await count().catch(() => last);
        if (n !== last && n >= 0) {
          last = n;
          emitter.emit('pending', { count: n });
        }
      } while (again);
    } finally {
      running = false;
    }
  };
  const kick = () => {
    timer ??= setTimeout(() => void recount(), delayMs);
  };
  const offs = [
    emitter.on('change', kick),
    emitter.on('conflict', kick),
    emitter.on('signedOut', kick),
    emitter.on('progress', (p) => {
      if (p.phase === 'push') kick();
    }),
  ];
  return () => {
    clearTimeout(timer);
    for (const off of offs) off();
  };
}

type Listener<T> = (event: T) => void;

export class Emitter {
  private listeners = new Map<string, Set<Listener<never>>>();

  on<K extends keyof ClientEvents>(name: K, fn: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  emit<K extends keyof ClientEvents>(name: K, event: ClientEvents[K]): void {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        (fn as Listener<ClientEvents[K]>)(event);
      } catch {
        // A listener's failure must not break the SDK's own flow.
      }
    }
  }
}
