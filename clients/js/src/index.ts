export {
  Attachments,
  blobSha256,
  type DownloadOptions,
  type QiniuUploadResult,
  type UploadOptions,
} from './attachments.js';
export type { Credentials } from './auth.js';
export {
  JournalClient,
  type JournalClientOptions,
  type QuotaReading,
  type Usage,
} from './client.js';
export {
  type BundleMaterial,
  ENCRYPTED_CONTENT_TYPE,
  type EncryptedFile,
  type Envelope,
  type FileHeader,
  type FileMeta,
  isEnvelope,
  type KdfParams,
  type UnlockedKeys,
  type WrappedContentKey,
} from './crypto/index.js';
export {
  DecryptionError,
  type ErrorCode,
  JournalError,
  type ProblemFields,
  type QuotaExceeded,
  type QuotaName,
} from './errors.js';
export type { ClientEvents, SyncProgress } from './events.js';
export type { ExportedEntry } from './export.js';
export type { EntryVersion, HistoryOptions } from './history.js';
export type { FetchLike } from './http.js';
export {
  type ImportFormat,
  type ImportOptions,
  type ImportProgress,
  type ImportSummary,
  importJournal,
} from './import.js';
export { IndexedDbStore } from './indexeddb.js';
export { SAFE_MEDIA_TYPES, safeBlobType } from './media.js';
export {
  type LocalStore,
  MemoryStore,
  type OutboxBatch,
  type StoredEntry,
  type StoreTx,
} from './store.js';
export {
  type Conflict,
  type ConflictEvent,
  type ConflictResolver,
  type Resolution,
  type SyncOptions,
  type SyncStatus,
  serverWinsKeepCopy,
} from './sync.js';
export {
  LocalStorageTokenStore,
  MemoryTokenStore,
  type StoredTokens,
  type TokenStore,
} from './tokens.js';
export type * from './types.js';
export { newId } from './util.js';
