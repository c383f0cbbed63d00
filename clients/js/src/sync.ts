/** The sync engine (its parts are in sync/: engine, local edits, push, pull, conflicts, live). */
export { SyncEngine } from './sync/engine.js';
export {
  type Conflict,
  type ConflictEvent,
  type ConflictResolver,
  type Resolution,
  type SyncCrypto,
  type SyncOptions,
  type SyncStatus,
  serverWinsKeepCopy,
} from './sync/types.js';
