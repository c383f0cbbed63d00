import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';
import type { Attachments } from './attachments.js';
import type { Auth } from './auth.js';
import { JournalError } from './errors.js';
import type { LocalStore, StoredEntry } from './store.js';
import type { Attachment, Entry } from './types.js';
import * as v from './validate.js';

export interface ExportedEntry {
  id: string;
  revision: number;
  content: Record<string, unknown>;
  updatedAt: string;
  /** True when this version is a local edit not yet on the server. */
  pending?: boolean;
}

/**
 * The whole journal as one zip: `entries.json` (every entry not deleted: the server's versions
 * with this device's unpushed edits over them) and `attachments/<id>` (each verified against
 * its SHA-256), plus `attachments.json` (their metadata). Built a file at a time.
 */
export async function exportZip(
  auth: Auth,
  attachments: Attachments,
  store: LocalStore,
  /** Server versions as readable (end-to-end encryption: decrypted; undefined: unreadable). */
  decode: (entries: Entry[]) => Promise<(Entry | undefined)[] | 'locked'> = async (e) => e,
): Promise<Blob> {
  const byId = new Map<string, ExportedEntry>();
  /** The entry's latest known state: gone when deleted, else its content. */
  const keep = (e: StoredEntry | Entry, pending?: true) => {
    if (e.deleted || !e.content) byId.delete(e.id);
    else {
      byId.set(e.id, {
        id: e.id,
        revision: e.revision,
        content: e.content,
        updatedAt: e.updatedAt,
        ...(pending ? { pending } : {}),
      });
    }
  };
  let since = 0;
  for (;;) {
    const page = v.changes(
      await auth.json('/sync/changes', { query: { since, limit: 10_000 } }),
      'changes',
    );
    const readable = await decode(page.changes as Entry[]);
    if (readable === 'locked') {
      throw new JournalError('encryption_locked', 'the journal is encrypted: unlock first');
    }
    for (const e of readable) if (e) keep(e);
    since = page.revision;
    if (!page.hasMore) break;
  }
  for (const e of await store.pending(Number.MAX_SAFE_INTEGER)) keep(e, true);
  const list: Attachment[] = await attachments.list();

  const chunks: Uint8Array[] = [];
  let failed: Error | undefined;
  const zip = new Zip((err, chunk) => {
    if (err) failed = err;
    else chunks.push(chunk);
  });
  const encoder = new TextEncoder();
  const addText = (name: string, text: string) => {
    const f = new ZipDeflate(name, { level: 6 });
    zip.add(f);
    f.push(encoder.encode(text), true);
  };
  const entries = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  addText('entries.json', JSON.stringify(entries, null, 2));
  // Each attachment as uploaded (decrypted), its real type in attachments.json.
  const files = [];
  for (const a of list) {
    const file = await attachments.file(a.id);
    files.push({ a: { ...a, contentType: file.type, size: file.blob.size }, blob: file.blob });
  }
  addText(
    'attachments.json',
    JSON.stringify(
      files.map((f) => f.a),
      null,
      2,
    ),
  );
  for (const { a, blob } of files) {
    const f = new ZipPassThrough(`attachments/${a.id}`);
    zip.add(f);
    f.push(new Uint8Array(await blob.arrayBuffer()), true);
  }
  zip.end();
  if (failed) throw failed;
  return new Blob(chunks as BlobPart[], { type: 'application/zip' });
}
