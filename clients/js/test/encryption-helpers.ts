import { randomBytes } from 'node:crypto';
import {
  type JournalClient,
  type JournalClientOptions,
  MemoryStore,
  MemoryTokenStore,
} from '@journal/client';
import { newClient, PASSWORD, uniqueUser } from './helpers.js';

/** Passphrases of the encryption tests (none is the account password). */
export const PASS1 = 'purple elephant sunrise';
export const PASS2 = 'seven quiet harbour lights';
export const PASS3 = 'a recovered passphrase, at last';

/** The fields every envelope has, exactly (docs/encryption.md "The envelope"). */
export const ENVELOPE_KEYS = ['alg', 'ct', 'kid', 'n', 'v'];

export function isEnvelopeText(text: string | null): boolean {
  if (text === null) return false;
  const v = JSON.parse(text) as Record<string, unknown>;
  return (
    Object.keys(v).sort().join() === ENVELOPE_KEYS.join() &&
    v.v === 1 &&
    v.alg === 'xchacha20-poly1305'
  );
}

/** A client with its own local store and session store (so it can be reopened on them). */
export function device(
  gateway: string,
  options: Partial<Omit<JournalClientOptions, 'tokenStore'>> & {
    tokenStore?: MemoryTokenStore;
  } = {},
) {
  const store = options.store ?? new MemoryStore();
  const tokenStore = options.tokenStore ?? new MemoryTokenStore();
  const client = newClient(gateway, { ...options, store, tokenStore });
  return { client, store, tokenStore };
}

/** A new account with encryption on (PASS1) on an empty journal: its first device and keys. */
export async function encryptedAccount(
  gateway: string,
  label: string,
): Promise<{
  username: string;
  a: JournalClient;
  recoveryKey: string;
  tokens: MemoryTokenStore;
}> {
  const username = uniqueUser(label);
  const tokens = new MemoryTokenStore();
  const a = newClient(gateway, { tokenStore: tokens });
  await a.auth.register({ username, password: PASSWORD });
  const { recoveryKey } = await a.encryption.enable({ passphrase: PASS1 });
  await a.encryption.resume();
  return { username, a, recoveryKey, tokens };
}

export async function signIn(
  gateway: string,
  username: string,
  options: Parameters<typeof device>[1] = {},
) {
  const d = device(gateway, options);
  await d.client.auth.login({ username, password: PASSWORD });
  return d;
}

export const contents = async (c: JournalClient) =>
  (await c.entries.list()).map((e) => [e.id, e.content]);

export async function bytesOf(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

/** Byte equality without a deep comparison per element (megabytes of it are slow). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

export function randomPhoto(size: number): { bytes: Uint8Array; blob: Blob } {
  const bytes = new Uint8Array(randomBytes(size));
  return { bytes, blob: new Blob([bytes], { type: 'image/png' }) };
}

/** The raw access token of a signed-in client's session store. */
export function accessToken(tokens: MemoryTokenStore): string {
  const t = tokens.get();
  if (!t || t instanceof Promise) throw new Error('not signed in');
  return t.accessToken;
}
