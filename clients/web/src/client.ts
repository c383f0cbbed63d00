/**
 * The app's one client: `@journal/client` with the session in localStorage, the journal and its
 * outbox in IndexedDB (so what is written offline survives reloads), and conflicts left to the
 * person ('manual'): the editor shows both versions and asks which to keep.
 */
import {
  IndexedDbStore,
  JournalClient,
  LocalStorageTokenStore,
  newId,
  type User,
} from '@journal/client';

export type {
  Attachment,
  Conflict,
  DeviceSession as Session,
  EntryVersion,
  LocalEntry,
  SyncStatus,
} from '@journal/client';
export {
  type ImportProgress,
  importJournal,
  JournalError,
  safeBlobType,
} from '@journal/client';

/** Same origin: the dev server and the nginx image both forward the API paths to the gateway. */
const baseUrl = (import.meta.env.VITE_API_URL as string | undefined) || window.location.origin;

const DEVICE_KEY = 'journal.deviceId';
const USER_KEY = 'journal.user';
const deviceId = localStorage.getItem(DEVICE_KEY) ?? newId();
localStorage.setItem(DEVICE_KEY, deviceId);

export const client = new JournalClient({
  baseUrl,
  deviceId,
  tokenStore: new LocalStorageTokenStore(),
  store: new IndexedDbStore('journal'),
  resolveConflict: () => 'manual',
});

/** The signed-in user, remembered beside the tokens (drafts are kept per user). */
export function currentUser(): User | undefined {
  const raw = localStorage.getItem(USER_KEY);
  return raw && client.auth.isSignedIn() ? (JSON.parse(raw) as User) : undefined;
}

export function rememberUser(user: User | undefined) {
  if (user) localStorage.setItem(USER_KEY, JSON.stringify(user));
  else localStorage.removeItem(USER_KEY);
}
