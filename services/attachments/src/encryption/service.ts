import {
  ENCRYPTED_CONTENT_TYPE,
  ENCRYPTION_LIMITS,
  encryptionRequired,
  ProblemError,
} from '@journal/shared';
import type { Db } from 'mongodb';
import { createEncryptionRepository } from './repository.js';

/**
 * The attachments service's part of end-to-end encryption (docs/encryption.md): once an account
 * has its `account_encryption` record, its uploads must be encrypted files (Content-Type
 * `application/vnd.journal.encrypted`, body starting with `JRNLE2E1`), its Qiniu tokens accept
 * only that MIME type, and `finish` says whether anything of it is still in plaintext.
 */

/** The first bytes of every encrypted file (the attachment format's magic). */
export const ENCRYPTED_MAGIC = Buffer.from('JRNLE2E1', 'latin1');

export function encryptionRefused(detail: string): ProblemError {
  return new ProblemError('encryption_required', detail);
}

/** True for exactly the encrypted files' type (parameters included would be another type). */
export function isEncryptedType(contentType: string | null | undefined): boolean {
  return contentType === ENCRYPTED_CONTENT_TYPE;
}

/**
 * `body` passed through once its first 8 bytes are `JRNLE2E1`; nothing is handed on before
 * they are checked, so a refused upload has written nothing. A body ending before 8 bytes, or
 * with other first bytes, throws `403 encryption_required` (the content store then removes
 * whatever it started, as for a digest mismatch).
 */
export async function* startingWithMagic(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const held: Buffer[] = [];
  let heldBytes = 0;
  let checked = false;
  for await (const received of body) {
    if (checked) {
      yield received;
      continue;
    }
    held.push(received);
    heldBytes += received.length;
    if (heldBytes < ENCRYPTED_MAGIC.length) continue;
    const head = Buffer.concat(held, heldBytes);
    if (!head.subarray(0, ENCRYPTED_MAGIC.length).equals(ENCRYPTED_MAGIC)) {
      throw encryptionRefused('an encrypted account’s attachment must start with JRNLE2E1');
    }
    checked = true;
    held.length = 0;
    yield head;
  }
  if (!checked) {
    throw encryptionRefused('an encrypted account’s attachment must start with JRNLE2E1');
  }
}

export function createAttachmentsEncryption(db: Db) {
  const queries = createEncryptionRepository(db);
  const limit = ENCRYPTION_LIMITS.maxListedPlaintext;

  /** True once the owner's account has turned end-to-end encryption on. */
  const required = (owner: string) => encryptionRequired(db, owner);

  return {
    required,

    /**
     * Refuses (403) an encrypted account's upload of another type than encrypted files; the
     * body's magic is checked as it streams (`startingWithMagic`).
     */
    async checkUpload(owner: string, contentType: string): Promise<boolean> {
      if (!(await required(owner))) return false;
      if (!isEncryptedType(contentType)) {
        throw encryptionRefused(
          `an encrypted account uploads only Content-Type ${ENCRYPTED_CONTENT_TYPE}`,
        );
      }
      return true;
    },

    /**
     * `{}` when none of the owner's attachments and recorded Qiniu uploads is of another type
     * than encrypted files; otherwise 409 `plaintext_remaining` naming up to `limit` of each.
     * 409 `encryption_not_enabled` for an account without encryption. Removes nothing.
     */
    async finish(owner: string): Promise<Record<string, never>> {
      if (!(await required(owner))) {
        throw new ProblemError(
          'encryption_not_enabled',
          'the account has not turned end-to-end encryption on (PUT /auth/encryption)',
        );
      }
      const [plainAttachments, plainUploads] = await Promise.all([
        queries.plaintextAttachments(owner, limit),
        queries.plaintextUploads(owner, limit),
      ]);
      if (plainAttachments.length > 0 || plainUploads.length > 0) {
        throw new ProblemError(
          'plaintext_remaining',
          `${plainAttachments.length} attachment(s) and ${plainUploads.length} Qiniu upload(s) ` +
            'are not encrypted files (at most the first 100 of each are listed)',
          {
            extensions: {
              attachments: plainAttachments,
              qiniuKeys: plainUploads,
            },
          },
        );
      }
      return {};
    },
  };
}

export type AttachmentsEncryption = ReturnType<typeof createAttachmentsEncryption>;
