import type { Auth } from '../auth.js';
import type { JournalError } from '../errors.js';
import type { Emitter } from '../events.js';
import type { LocalStore, StoredEntry, StoreTx } from '../store.js';
import type { Change, Entry, EntryContent, LocalEntry } from '../types.js';
import type { Mutex } from '../util.js';

/** `locked`: the account is end-to-end encrypted and this device holds no keys (no push, no pull). */
export type SyncStatus =
  | 'idle'
  | 'syncing'
  | 'live'
  | 'offline'
  | 'signed_out'
  | 'error'
  | 'locked';

/** A local edit that met a newer server version when pushed. */
export interface Conflict {
  id: string;
  /** The local version (content null when the local edit was a delete). */
  local: LocalEntry;
  /** The server's current version; null when the server has no such entry any more. */
  server: Entry | null;
}

/**
 * What to do with a conflict: keep the server's version, push the local one over it, keep the
 * server's and the local version as a new entry (`'copy'`, the default), leave it for the app
 * (`'manual'`: listed by `conflicts.list()` until `conflicts.resolve()`), or merged content.
 */
export type Resolution = 'server' | 'local' | 'copy' | 'manual' | EntryContent;
export type ConflictResolver = (conflict: Conflict) => Resolution | Promise<Resolution>;

export interface ConflictEvent extends Conflict {
  resolution: 'server' | 'local' | 'copy' | 'manual' | 'merged';
  /** With `'copy'`: the id of the new entry holding the local version. */
  copyId?: string;
}

/** The default policy: the server wins, the local version is kept as a new entry. */
export const serverWinsKeepCopy: ConflictResolver = () => 'copy';

export interface SyncOptions {
  deviceId: string;
  resolver?: ConflictResolver;
  /** Seconds a live pull waits for a change (API maximum 30). Default 25. */
  waitSeconds?: number;
  /**
   * Entries per pull (1..10000). Default 10000, the API's largest: the server cuts each page at
   * 4 MiB of content anyway, so full pages only save round trips on a first sync.
   */
  pullLimit?: number;
  /** Changes per push (1..500). Default 500. */
  batchSize?: number;
  /** First retry delay; doubles per failure, with full jitter, up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The keys of the sync engine's values in the store's meta. */
export const META = {
  cursor: 'cursor',
  /** The store generation the cursor belongs to (docs/sync.md, "Restores and the store's generation"). */
  generation: 'generation',
  batch: 'batch',
  seq: 'seq',
  conflicts: 'conflicts',
  user: 'userId',
  device: 'deviceId',
  /** The seq ranges `[from, to]` of entries queued again as they were (`requeue`). */
  requeued: 'requeued',
} as const;

/** Whether a pending edit's seq is one `requeue` gave (no edit of the user's since). */
export async function wasRequeued(tx: StoreTx, seq: number): Promise<boolean> {
  const raw = await tx.getMeta(META.requeued);
  const ranges = raw ? (JSON.parse(raw) as [number, number][]) : [];
  return ranges.some(([from, to]) => seq >= from && seq <= to);
}

/**
 * The engine's end-to-end encryption hooks (encryption/codec.ts builds them); without them
 * every change goes as it is. The local store always holds plaintext.
 */
export interface SyncCrypto {
  /**
   * Before a push or a pull (fetches the account's encryption state when not known yet):
   * `plain` sends as it is, `encrypt` encrypts, `locked` neither pushes nor pulls.
   */
  prepare(): Promise<'plain' | 'encrypt' | 'locked'>;
  /** Encryption on and no keys on this device (as last known, without asking). */
  readonly locked: boolean;
  /** The changes of a new push batch as they are sent (encrypted when on). */
  encodeChanges(changes: Change[]): Promise<Change[]>;
  /**
   * Server versions as the store keeps them: envelopes decrypted. `undefined` where one could
   * not be decrypted (recorded and reported, never stored); `locked` when they are encrypted
   * and this device holds no keys.
   */
  decodeEntries(entries: Entry[]): Promise<(Entry | undefined)[] | 'locked'>;
  /**
   * A push was refused `403 encryption_required` (another device turned encryption on):
   * learn the account's state again. True when the refused changes were plaintext, so a
   * rebuilt batch is worth sending (encrypted, or not at all while locked).
   */
  encryptionRequired(refused: Change[]): Promise<boolean>;
}

/** What the push, pull, conflict and local-edit steps share (held by the SyncEngine). */
export interface SyncContext {
  readonly auth: Auth;
  readonly store: LocalStore;
  readonly events: Emitter;
  readonly options: SyncOptions;
  /** One push, pull page or conflict resolution at a time. */
  readonly mutex: Mutex;
  readonly resolver: ConflictResolver;
  /** Unresolved `'manual'` conflicts (persisted under META.conflicts). */
  manual: Conflict[];
  /** Changes per push: halved after a 413, 1 over a quota. */
  batchSize: number;
  /** A push refused for a quota, until the next local change (see `quotaExceeded`). */
  overQuota: JournalError | undefined;
  /** Opens the store and loads the unresolved conflicts (once). */
  ready(): Promise<void>;
  /** A local change: clears a quota refusal and wakes the live loop to push now. */
  nudge(): void;
  /** End-to-end encryption, when the client has it. */
  crypto?: SyncCrypto | undefined;
}

/** The configured changes per push (1..500). */
export function defaultBatchSize(options: SyncOptions): number {
  return Math.min(500, Math.max(1, options.batchSize ?? 500));
}

/** A pending edit's change as pushed. */
export function changeOf(e: StoredEntry): Change {
  return e.deleted
    ? { id: e.id, baseRevision: e.revision, deleted: true, clientUpdatedAt: e.updatedAt }
    : {
        id: e.id,
        baseRevision: e.revision,
        content: e.content as EntryContent,
        clientUpdatedAt: e.updatedAt,
      };
}

export async function nextSeq(tx: StoreTx): Promise<number> {
  const seq = Number((await tx.getMeta(META.seq)) ?? '0') + 1;
  await tx.setMeta(META.seq, String(seq));
  return seq;
}

export function sameContent(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
