/**
 * Unlocked keys as a string for the device's local store (which already holds the journal in
 * plaintext, docs/encryption.md "Devices"), and back.
 */
import { JournalError } from '../errors.js';
import { fromBase64url, toBase64url } from './encoding.js';
import { isKid } from './envelope.js';
import type { UnlockedKeys } from './keys.js';
import { KEY_BYTES } from './primitives.js';

interface StoredKeys {
  v: 1;
  userId: string;
  masterKey: string;
  contentKeys: [string, string][];
  currentKid: string;
}

export function serializeKeys(keys: UnlockedKeys): string {
  const stored: StoredKeys = {
    v: 1,
    userId: keys.userId,
    masterKey: toBase64url(keys.masterKey),
    contentKeys: [...keys.contentKeys].map(([kid, key]) => [kid, toBase64url(key)]),
    currentKid: keys.currentKid,
  };
  return JSON.stringify(stored);
}

function malformed(detail: string): JournalError {
  return new JournalError('validation_failed', `stored keys are malformed: ${detail}`);
}

function key32(value: unknown): Uint8Array | undefined {
  const bytes = typeof value === 'string' ? fromBase64url(value) : undefined;
  return bytes?.length === KEY_BYTES ? bytes : undefined;
}

/** The keys `serializeKeys` wrote; `validation_failed` for anything else. */
export function deserializeKeys(s: string): UnlockedKeys {
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    throw malformed('not JSON');
  }
  const o = parsed as Partial<StoredKeys> | null;
  if (typeof o !== 'object' || o === null || o.v !== 1) throw malformed('unknown version');
  if (typeof o.userId !== 'string' || o.userId.length === 0) throw malformed('userId');
  const masterKey = key32(o.masterKey);
  if (!masterKey) throw malformed('masterKey');
  if (!Array.isArray(o.contentKeys)) throw malformed('contentKeys');
  const contentKeys = new Map<string, Uint8Array>();
  for (const pair of o.contentKeys as unknown[]) {
    const [kid, value] = Array.isArray(pair) ? pair : [];
    const key = key32(value);
    if (!isKid(kid) || !key || contentKeys.has(kid)) throw malformed('a content key');
    contentKeys.set(kid, key);
  }
  if (typeof o.currentKid !== 'string' || !contentKeys.has(o.currentKid))
    throw malformed('currentKid');
  return { userId: o.userId, masterKey, contentKeys, currentKid: o.currentKid };
}
