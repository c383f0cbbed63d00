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
