import { ENCRYPTED_CONTENT_TYPE } from '../crypto/index.js';
import { JournalError } from '../errors.js';
import type { EntryContent } from '../types.js';
import { newId } from '../util.js';
import type { EncryptionCore, MigrationProgress } from './core.js';
import type { MigrationHost, MigrationRecord } from './migration.js';
import { replaceStrings } from './rewrite.js';

/** What a step of the migration works with (migration.ts builds it). */
export interface Step {
  core: EncryptionCore;
  host: MigrationHost;
  /** Throws when the client closed or the lease went to another device. */
  check(): void;
  emit(progress: MigrationProgress): void;
  record(): Promise<MigrationRecord>;
  save(record: MigrationRecord): Promise<void>;
  pushAll(): Promise<void>;
}

/**
 * The attachments step: each plaintext attachment (all, or the ids `only` names) is downloaded,
 * encrypted and uploaded under a new id (old → new recorded before anything refers to it);
 * every local entry naming an old id is rewritten and pushed; then the old ones are deleted.
 */
export async function migrateFiles(
  step: Step,
  only?: string[],
  qiniuKeys: string[] = [],
): Promise<void> {
  const { host } = step;
  const rec = await step.record();
  const wanted = only && new Set(only);
  const plain = (await host.attachments.list()).filter(
    (a) => a.contentType !== ENCRYPTED_CONTENT_TYPE && (!wanted || wanted.has(a.id)),
  );
  const total = plain.length;
  step.emit({ phase: 'attachments', done: 0, total });
  let done = 0;
  for (const a of plain) {
    step.check();
    if (!rec.mapping[a.id] || rec.deleted.includes(a.id)) {
      const file = await host.attachments.file(a.id);
      const id = newId();
      await host.attachments.upload(id, file.blob, { contentType: a.contentType, name: a.id });
      rec.mapping[a.id] = id;
      rec.deleted = rec.deleted.filter((d) => d !== a.id);
      await step.save(rec);
    }
    step.emit({ phase: 'attachments', done: ++done, total });
  }
  if (qiniuKeys.length) {
    // Objects in the Qiniu bucket: the SDK cannot replace them (insert-only tokens) nor
    // delete them; the app that uploaded them has to.
    throw new JournalError(
      'plaintext_remaining',
      `Qiniu objects still in plaintext: ${qiniuKeys.slice(0, 5).join(', ')}`,
    );
  }
  const pending = Object.entries(rec.mapping).filter(([old]) => !rec.deleted.includes(old));
  if (pending.length === 0) return;
  const replace = new Map(pending);
  for (const e of await host.list()) {
    if (!e.content) continue;
    const next = replaceStrings(e.content, replace);
    if (next !== e.content) await host.put(e.id, next as EntryContent);
  }
  await step.pushAll();
  for (const [old] of pending) {
    step.check();
    try {
      await host.attachments.delete(old);
    } catch (err) {
      if (!(err instanceof JournalError && err.code === 'not_found')) throw err;
    }
    rec.deleted.push(old);
    await step.save(rec);
  }
}
