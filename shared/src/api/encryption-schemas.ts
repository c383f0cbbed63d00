import { z } from 'zod';
import { SYNC_LIMITS } from './sync-schemas.js';

/**
 * End-to-end encryption (docs/encryption.md): the shapes the server checks and stores, and its
 * four calls, merged into the auth, sync and attachments operation tables. The server never
 * decrypts anything; it checks that what an encrypted account sends is ciphertext-shaped.
 */

/** The Content-Type of every upload of an encrypted account (docs/encryption.md). */
export const ENCRYPTED_CONTENT_TYPE = 'application/vnd.journal.encrypted';
/** The first 8 bytes of every encrypted file (the attachment stream format's magic). */
export const ENCRYPTED_FILE_MAGIC = 'JRNLE2E1';

export const ENCRYPTION_LIMITS = {
  /** Largest `PUT /auth/encryption` body (64 content keys fit in about 15 KiB). */
  maxBundleBytes: 64 * 1024,
  maxContentKeys: 64,
  maxLeaseSeconds: 300,
  /** Ids a `plaintext_remaining` answer lists at most (of each kind). */
  maxListedPlaintext: 100,
} as const;

/** Argon2id bounds: below the minimum the SDK refuses too (`weak_key_params`). */
export const KDF_LIMITS = {
  m: { min: 65_536, max: 1_048_576 },
  t: { min: 3, max: 20 },
  p: { min: 1, max: 4 },
} as const;

/** True when `text` is base64url as the SDK writes it: no padding, no stray trailing bits. */
function canonicalBase64url(text: string): boolean {
  return text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text;
}

/** Base64url (no padding) of `minBytes` to `maxBytes` bytes. */
function base64urlBytes(minBytes: number, maxBytes: number) {
  const minChars = Math.ceil((minBytes * 4) / 3);
  const maxChars = Math.ceil((maxBytes * 4) / 3);
  return z
    .string()
    .regex(new RegExp(`^[A-Za-z0-9_-]{${minChars},${maxChars}}$`), {
      error: `must be base64url (no padding) of ${minBytes}-${maxBytes} bytes`,
    })
    .refine(canonicalBase64url, { error: 'is not canonical base64url' });
}

/** A key id: a content key's (11 characters) or a wrapping key's name (`master`, …). */
export const kidSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 _ -' });

/**
 * Everything encrypted with a key: exactly these five fields. `ct` is the ciphertext and its
 * 16-byte tag; an entry's envelope is bounded by the content limit (1 MiB serialized).
 */
export const envelopeSchema = z
  .object({
    v: z.literal(1),
    alg: z.literal('xchacha20-poly1305'),
    kid: kidSchema,
    n: z.string().regex(/^[A-Za-z0-9_-]{32}$/, { error: 'must be base64url of exactly 24 bytes' }),
    ct: base64urlBytes(16, (SYNC_LIMITS.maxContentBytes * 3) / 4),
  })
  .strict()
  .meta({ id: 'Envelope' });

export type Envelope = z.infer<typeof envelopeSchema>;

/** True when `value` is exactly an envelope (what an encrypted account's entries must be). */
export function isEnvelope(value: unknown): value is Envelope {
  return envelopeSchema.safeParse(value).success;
}

export const kdfSchema = z
  .object({
    alg: z.literal('argon2id'),
    salt: base64urlBytes(16, 64),
    m: z.number().int().min(KDF_LIMITS.m.min).max(KDF_LIMITS.m.max).describe('Memory, KiB'),
    t: z.number().int().min(KDF_LIMITS.t.min).max(KDF_LIMITS.t.max).describe('Iterations'),
    p: z.number().int().min(KDF_LIMITS.p.min).max(KDF_LIMITS.p.max).describe('Parallelism'),
  })
  .strict()
  .meta({ id: 'KeyDerivation' });

export const contentKeySchema = z
  .object({
    kid: kidSchema,
    wrapped: envelopeSchema.describe('The content key under the master key'),
  })
  .strict()
  .meta({ id: 'WrappedContentKey' });

const bundleStateSchema = z
  .enum(['migrating', 'on'])
  .describe('`migrating` while the account’s data is being encrypted; never back from `on`');

/** Printable text without control characters, as sync's `deviceId`. */
const deviceIdSchema = z
  .string()
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse them.
  .regex(/^[^\u0000-\u001f\u007f]{1,128}$/, {
    error: 'must be 1-128 characters without control characters',
  });

/** The fields a client writes, shared by the request and the stored bundle. */
const bundleFields = {
  state: bundleStateSchema,
  kdf: kdfSchema,
  passwordWrappedKey: envelopeSchema.describe('The master key under the passphrase’s key'),
  recoveryWrappedKey: envelopeSchema.describe('The master key under the recovery key'),
  contentKeys: z
    .array(contentKeySchema)
    .min(1, { error: 'must hold at least one content key' })
    .max(ENCRYPTION_LIMITS.maxContentKeys, {
      error: `must hold at most ${ENCRYPTION_LIMITS.maxContentKeys} content keys`,
    }),
  currentKid: kidSchema.describe('The content key new data is encrypted with'),
};

/** Content key ids unique, and the current one among them. */
function checkKids(
  bundle: { contentKeys: { kid: string }[]; currentKid: string },
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  bundle.contentKeys.forEach(({ kid }, index) => {
    if (seen.has(kid)) {
      ctx.addIssue({ code: 'custom', path: ['contentKeys', index, 'kid'], message: 'is repeated' });
    }
    seen.add(kid);
  });
  if (!seen.has(bundle.currentKid)) {
    ctx.addIssue({
      code: 'custom',
      path: ['currentKid'],
      message: 'must be the kid of one of contentKeys',
    });
  }
}

export const bundleWriteSchema = z
  .object({
    ...bundleFields,
    migration: z
      .object({
        deviceId: deviceIdSchema.describe('The device migrating the account’s data'),
        leaseSeconds: z.number().int().min(1).max(ENCRYPTION_LIMITS.maxLeaseSeconds),
      })
      .strict()
      .nullable()
      .describe('A migration lease for this device; null ends any lease'),
  })
  .strict()
  .superRefine(checkKids)
  .meta({ id: 'EncryptionBundleWrite' });

export const putEncryptionRequestSchema = z
  .object({
    expectedVersion: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .describe('The version this write replaces; 0 turns encryption on'),
    bundle: bundleWriteSchema,
  })
  .strict()
  .meta({ id: 'PutEncryptionRequest' });

export const bundleSchema = z
  .object({
    version: z.number().int().min(1),
    ...bundleFields,
    migration: z
      .object({ deviceId: z.string(), leaseExpiresAt: z.iso.datetime() })
      .strict()
      .nullable(),
    createdAt: z.iso.datetime().describe('When encryption was turned on (version 1)'),
    updatedAt: z.iso.datetime().describe('When this version was written'),
  })
  .strict()
  .meta({ id: 'EncryptionBundle' });

export const encryptionStatusSchema = z
  .union([
    z.object({ enabled: z.literal(false) }).strict(),
    z.object({ enabled: z.literal(true), bundle: bundleSchema }).strict(),
  ])
  .meta({ id: 'EncryptionStatus' });

/** The finish calls take no body; `{}` is accepted too. */
export const finishRequestSchema = z.object({}).strict().optional();

export const syncFinishReplySchema = z
  .object({
    purgedVersions: z
      .number()
      .int()
      .min(0)
      .describe('Replaced versions (and tombstones) whose plaintext content was dropped'),
  })
  .strict()
  .meta({ id: 'SyncEncryptionFinish' });

export type BundleWrite = z.infer<typeof bundleWriteSchema>;
export type Bundle = z.infer<typeof bundleSchema>;
export type EncryptionStatus = z.infer<typeof encryptionStatusSchema>;
