import { decryptEntry, encryptEntry, isEnvelope } from '../crypto/index.js';
import { DecryptionError } from '../errors.js';
import type { SyncCrypto } from '../sync/types.js';
import type { Change, Entry, EntryContent } from '../types.js';
import type { EncryptionCore } from './core.js';

/**
 * The sync engine's encryption hooks (docs/encryption.md "Encrypt in the SDK, once"): a push
 * batch's contents become envelopes when it is built, pulled and conflicting versions are
 * decrypted before they are stored, and a locked device neither pushes nor pulls.
 */
export function syncHooks(core: EncryptionCore): SyncCrypto {
  return {
    get locked() {
      return core.state === 'locked';
    },

    async prepare() {
      await core.load();
      if (core.state === 'unknown') await core.refresh();
      if (core.state === 'locked') return 'locked';
      return core.state === 'unlocked' ? 'encrypt' : 'plain';
    },

    async encodeChanges(changes: Change[]): Promise<Change[]> {
      const keys = core.keys;
      if (!keys) return changes;
      const out: Change[] = [];
      for (const c of changes) {
        if (c.deleted || !c.content) {
          out.push({ ...c, clientUpdatedAt: null });
          continue;
        }
        const envelope = encryptEntry(keys, c.id, c.content, c.clientUpdatedAt ?? null);
        out.push({ ...c, content: envelope as unknown as EntryContent, clientUpdatedAt: null });
      }
      return out;
    },

    async decodeEntries(entries: Entry[]) {
      if (!entries.some((e) => isEnvelope(e.content))) {
        for (const e of entries) core.clearFailure(e.id);
        return entries;
      }
      // Envelopes on a device without keys: encryption was turned on elsewhere, or the keys
      // lack a content key added since. Learn the bundle once.
      const kids = entries.flatMap((e) => (isEnvelope(e.content) ? [e.content.kid] : []));
      if (!core.keys || kids.some((kid) => !core.keys?.contentKeys.has(kid))) {
        await core.refresh();
      }
      if (!core.keys && core.state === 'locked') return 'locked';
      const out: (Entry | undefined)[] = [];
      for (const e of entries) out.push(await decodeOne(core, e));
      return out;
    },

    async encryptionRequired(refused: Change[]): Promise<boolean> {
      const plaintext = refused.some((c) => !c.deleted && c.content && !isEnvelope(c.content));
      await core.refresh();
      return plaintext && core.state !== 'off';
    },
  };
}

/** One server version decrypted; undefined when it cannot be (recorded and reported). */
async function decodeOne(core: EncryptionCore, e: Entry): Promise<Entry | undefined> {
  if (!isEnvelope(e.content)) {
    core.clearFailure(e.id);
    return e;
  }
  try {
    if (!core.keys) throw new DecryptionError('no keys on this device', { entryId: e.id });
    const plain = decryptEntry(core.keys, e.id, e.content);
    core.clearFailure(e.id);
    return { ...e, content: plain.content, clientUpdatedAt: plain.clientUpdatedAt };
  } catch (err) {
    const failure =
      err instanceof DecryptionError
        ? err
        : new DecryptionError(`entry ${e.id}: ${(err as Error).message}`, { entryId: e.id });
    core.recordFailure(e.id, failure);
    return undefined;
  }
}

/** An entry's history versions with their envelopes decrypted (content null where one fails). */
export async function decodeHistory<
  V extends { content: EntryContent | null; clientUpdatedAt: string | null },
>(core: EncryptionCore, entryId: string, versions: V[]): Promise<V[]> {
  if (!versions.some((v) => isEnvelope(v.content))) return versions;
  await core.load();
  if (!core.keys) await core.refresh();
  const out: V[] = [];
  for (const v of versions) {
    if (!isEnvelope(v.content)) {
      out.push(v);
      continue;
    }
    try {
      if (!core.keys) throw new DecryptionError('no keys on this device', { entryId });
      const plain = decryptEntry(core.keys, entryId, v.content);
      out.push({ ...v, content: plain.content, clientUpdatedAt: plain.clientUpdatedAt });
    } catch (err) {
      const failure =
        err instanceof DecryptionError
          ? err
          : new DecryptionError(`entry ${entryId}: ${(err as Error).message}`, { entryId });
      core.events.emit('decryptionFailed', failure);
      out.push({ ...v, content: null });
    }
  }
  return out;
}
