/**
 * The one place the app gets its client from. Today that is the fetch adapter in api.ts (the
 * SDK-API.md subset the app uses); with `@journal/client` available it is
 * `export * from '@journal/client'` and nothing else in the app changes.
 */
import { JournalClient } from './api.js';

export type { Attachment, Conflict, LocalEntry, Session, SyncStatus } from './api.js';
export { JournalClient, JournalError } from './api.js';

/** Same origin: the dev server and the nginx image both forward the API paths to the gateway. */
const baseUrl = (import.meta.env.VITE_API_URL as string | undefined) || window.location.origin;

export const client = new JournalClient({ baseUrl });
