import { Attachments } from '../attachments.js';
import type { Auth } from '../auth.js';
import type { FetchLike } from '../http.js';
import type { SyncEngine } from '../sync.js';
import { Encryption } from './controller.js';
import type { EncryptionCore } from './core.js';
import { fileHooks } from './files.js';
import { Migration } from './migration.js';

export { decodeHistory, syncHooks } from './codec.js';
export type { EncryptionApi } from './controller.js';
export {
  EncryptionCore,
  type EncryptionEvent,
  type EncryptionState,
  type MigrationProgress,
} from './core.js';

/**
 * End-to-end encryption wired into a client around its engine (made with `syncHooks(core)`):
 * the engine woken on every change of state, the attachments encrypting, the migration
 * driving the engine, and `client.encryption`.
 */
export function wireEncryption(
  core: EncryptionCore,
  engine: SyncEngine,
  auth: Auth,
  fetchImpl: FetchLike,
): { attachments: Attachments; migration: Migration; api: Encryption } {
  core.listeners.add(() => engine.cryptoChanged());
  const attachments = new Attachments(auth, fetchImpl, fileHooks(core));
  const migration = new Migration(core, {
    pullAll: () => engine.pullAll(),
    pushOnce: () => engine.pushOnce(),
    pendingCount: () => engine.pendingCount(),
    requeue: (ids, mark) => engine.requeue(ids, mark),
    list: () => engine.list(),
    put: (id, content) => engine.writeLocal(id, content),
    attachments,
  });
  return { attachments, migration, api: new Encryption(core, migration) };
}
