/**
 * An entry's envelope (docs/encryption.md "What an entry's envelope holds"): the UTF-8 JSON
 * `{"c": content, "t": clientUpdatedAt}` padded with spaces to a multiple of 256 bytes, sealed
 * under the current content key, bound to the user and the entry.
 */
import { DecryptionError, JournalError } from '../errors.js';
import { fromUtf8, utf8 } from './encoding.js';
import { type Envelope, isEnvelope, openEnvelope, sealEnvelope } from './envelope.js';
import type { UnlockedKeys } from './keys.js';

const ENTRY = 'journal/e2e/entry';
export const PAD_TO = 256;
const SPACE = 0x20;

/** The plaintext bytes padded with spaces (JSON ignores trailing whitespace). */
function padded(json: string): Uint8Array {
  const bytes = utf8(json);
  const length = Math.max(PAD_TO, Math.ceil(bytes.length / PAD_TO) * PAD_TO);
  const out = new Uint8Array(length).fill(SPACE);
  out.set(bytes);
  return out;
}

export function encryptEntry(
  keys: UnlockedKeys,
  entryId: string,
  content: Record<string, unknown>,
  clientUpdatedAt: string | null,
): Envelope {
  const key = keys.contentKeys.get(keys.currentKid);
  if (!key) throw new JournalError('validation_failed', `no content key ${keys.currentKid}`);
  const plaintext = padded(JSON.stringify({ c: content, t: clientUpdatedAt }));
  return sealEnvelope(key, keys.currentKid, ENTRY, [keys.userId, entryId], plaintext);
}

/** The content and clientUpdatedAt of an entry's envelope; DecryptionError on any failure. */
export function decryptEntry(
  keys: UnlockedKeys,
  entryId: string,
  envelope: unknown,
): { content: Record<string, unknown>; clientUpdatedAt: string | null } {
  if (!isEnvelope(envelope))
    throw new DecryptionError(`entry ${entryId} is not an envelope`, { entryId });
  const key = keys.contentKeys.get(envelope.kid);
  if (!key)
    throw new DecryptionError(
      `entry ${entryId} is under content key ${envelope.kid}, which this device does not hold`,
      { entryId },
    );
  const plaintext = openEnvelope(key, ENTRY, [keys.userId, entryId], envelope);
  if (!plaintext) throw new DecryptionError(`entry ${entryId} does not decrypt`, { entryId });
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(plaintext));
  } catch (cause) {
    throw new DecryptionError(`entry ${entryId} decrypts to malformed JSON`, { entryId, cause });
  }
  const o = parsed as { c?: unknown; t?: unknown } | null;
  const c = o?.c;
  const t = o?.t;
  if (
    typeof c !== 'object' ||
    c === null ||
    Array.isArray(c) ||
    (t !== null && typeof t !== 'string')
  )
    throw new DecryptionError(`entry ${entryId} decrypts to an unexpected shape`, { entryId });
  return { content: c as Record<string, unknown>, clientUpdatedAt: t };
}
