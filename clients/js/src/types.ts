import type { components } from './generated/api.js';

/** The contract's schemas (from the gateway's OpenAPI document). */
type Schemas = components['schemas'];

export type User = Schemas['User'];
export type Session = Schemas['Session'];
export type DeviceSession = Schemas['DeviceSession'];
export type Entry = Schemas['Entry'];
export type Change = Schemas['Change'];
export type Changes = Schemas['Changes'];
export type PushReply = Schemas['PushReply'];
export type PushRequest = Schemas['PushRequest'];
export type Attachment = Schemas['Attachment'];
export type AttachmentList = Schemas['AttachmentList'];
export type QiniuUploadToken = Schemas['QiniuUploadToken'];
export type Problem = Schemas['Problem'];

/** A journal entry's content: any JSON object. */
export type EntryContent = Record<string, unknown>;

/** An entry as the app sees it in the local store. */
export interface LocalEntry {
  id: string;
  /** Null when deleted. */
  content: EntryContent | null;
  /** The server revision this local version is based on (0: never on the server). */
  revision: number;
  deleted: boolean;
  /** True while a local edit waits in the outbox. */
  pending: boolean;
  /** When this version was written (local edit time, or the server's time for pulled ones). */
  updatedAt: string;
}
