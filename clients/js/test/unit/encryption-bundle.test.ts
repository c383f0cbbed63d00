import { JournalClient } from '@journal/client';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BundleMaterial, createBundle } from '../../src/crypto/index.js';
import { foreignLease, parseBundle, type ServerBundle } from '../../src/encryption/bundle-shape.js';
import { replaceStrings } from '../../src/encryption/rewrite.js';

/**
 * The SDK's end-to-end encryption logic that needs no server: the key bundle a server answers
 * is checked before anything is derived from it, the lease rule, the migration's rewrite of
 * attachment ids in entries, and the client API's refusals of malformed input.
 */

let material: BundleMaterial;
beforeAll(async () => {
  ({ material } = await createBundle('user-1', 'a passphrase for the unit tests'));
});

const bundle = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  version: 3,
  state: 'on',
  ...material,
  migration: null,
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-02T00:00:00.000Z',
  ...over,
});

describe('a bundle from the server', () => {
  it('is taken when it has every field', () => {
    const b = parseBundle(bundle());
    expect(b.version).toBe(3);
    expect(b.contentKeys).toEqual(material.contentKeys);
    expect(parseBundle(bundle({ migration: undefined })).migration).toBeNull();
  });

  it.each([
    ['no version', () => ({ version: undefined })],
    ['version 0', () => ({ version: 0 })],
    ['an unknown state', () => ({ state: 'off' })],
    ['a wrapped key that is no envelope', () => ({ passwordWrappedKey: { v: 1 } })],
    [
      'an envelope with another field',
      () => ({ recoveryWrappedKey: { ...material.recoveryWrappedKey, x: 1 } }),
    ],
    ['no content key', () => ({ contentKeys: [] })],
    ['a content key without its envelope', () => ({ contentKeys: [{ kid: 'k' }] })],
    ['a migration without its lease', () => ({ migration: { deviceId: 'd' } })],
    ['an operator in a field', () => ({ currentKid: { $gt: '' } })],
  ] as [string, () => Record<string, unknown>][])('is refused with %s (bad_reply)', (_, over) => {
    expect(() => parseBundle(bundle(over()))).toThrow(
      expect.objectContaining({ code: 'bad_reply' }),
    );
  });

  it('is refused with key-derivation parameters a server weakened (weak_key_params)', () => {
    for (const kdf of [
      { ...material.kdf, m: 1024 },
      { ...material.kdf, t: 1 },
      { ...material.kdf, m: 2 ** 30 },
    ]) {
      expect(() => parseBundle(bundle({ kdf }))).toThrow(
        expect.objectContaining({ code: 'weak_key_params' }),
      );
    }
  });
});

describe('the migration lease', () => {
  const at = (deviceId: string, inMs: number): ServerBundle =>
    parseBundle(
      bundle({
        state: 'migrating',
        migration: { deviceId, leaseExpiresAt: new Date(Date.now() + inMs).toISOString() },
      }),
    );
  it("is another device's only while it lasts", () => {
    expect(foreignLease(at('phone', 60_000), 'laptop')).toBe(true);
    expect(foreignLease(at('phone', -1_000), 'laptop')).toBe(false);
    expect(foreignLease(at('laptop', 60_000), 'laptop')).toBe(false);
    expect(foreignLease(parseBundle(bundle()), 'laptop')).toBe(false);
  });
});

describe("the migration's rewrite of attachment ids", () => {
  const map = new Map([['old-1', 'new-1']]);
  it('replaces every string equal to an old id, at any depth, and nothing else', () => {
    const content = {
      cover: 'old-1',
      photos: [{ id: 'old-1', type: 'image/png' }, { id: 'other' }],
      text: 'mentions old-1 in a sentence',
      'old-1': 'a key is left as it is',
      n: 1,
      none: null,
    };
    expect(replaceStrings(content, map)).toEqual({
      cover: 'new-1',
      photos: [{ id: 'new-1', type: 'image/png' }, { id: 'other' }],
      text: 'mentions old-1 in a sentence',
      'old-1': 'a key is left as it is',
      n: 1,
      none: null,
    });
  });
  it('gives back the same object when nothing matched', () => {
    const content = { a: ['x', { b: 'y' }] };
    expect(replaceStrings(content, map)).toBe(content);
  });
});

describe('client.encryption refuses malformed input before any request', () => {
  const client = new JournalClient({ baseUrl: 'http://127.0.0.1:9' });
  it.each([
    ['enable without a passphrase', () => client.encryption.enable({ passphrase: '' })],
    [
      'enable with a number',
      () => client.encryption.enable({ passphrase: 7 as unknown as string }),
    ],
    ['unlock with an empty passphrase', () => client.encryption.unlock('')],
    ['recover without words', () => client.encryption.recover('', 'new passphrase')],
    ['changePassphrase to nothing', () => client.encryption.changePassphrase('old one', '')],
  ])('%s: validation_failed', async (_, call) => {
    await expect(call()).rejects.toMatchObject({ code: 'validation_failed' });
  });
  it('enable with the account password as passphrase: passphrase_is_password', async () => {
    await expect(
      client.encryption.enable({ passphrase: 'same secret', accountPassword: 'same secret' }),
    ).rejects.toMatchObject({ code: 'passphrase_is_password' });
  });
  it('is unknown before anything was learnt', () => {
    expect(client.encryption.state).toBe('unknown');
    expect(client.encryption.migrating).toBe(false);
    expect(client.encryption.failures()).toEqual([]);
  });
});
