/**
 * An export encrypted with a passphrase (docs/encryption.md "Export"): the attachment format,
 * its file key wrapped under HKDF(Argon2id(passphrase), "journal/e2e/v1/export-key") with kid
 * `export`, the Argon2id parameters in the header's `kdf`, bound to userId "" and attachment
 * "export", so it opens anywhere with the passphrase alone.
 */
import { DecryptionError, JournalError } from '../errors.js';
import { openFileStream, sealFile } from './file-cipher.js';
import { encodeHeader } from './file-format.js';
import { collect, newFileHeader, openFileHeader } from './files.js';
import { defaultKdfParams, type KdfParams, stretchPassphrase } from './kdf.js';
import { hkdfKey, wipe } from './primitives.js';

export const EXPORT_KEY_INFO = 'journal/e2e/v1/export-key';
const EXPORT_KID = 'export';
const BINDING = { userId: '', attachmentId: 'export' };

async function exportKey(passphrase: string, kdf: KdfParams): Promise<Uint8Array> {
  const stretched = await stretchPassphrase(passphrase, kdf);
  try {
    return hkdfKey(stretched, EXPORT_KEY_INFO);
  } finally {
    wipe(stretched);
  }
}

/** `file` encrypted with a key derived from `passphrase` (fresh salt, default costs). */
export async function encryptWithPassphrase(
  file: Blob,
  passphrase: string,
  kdf?: KdfParams,
): Promise<Blob> {
  if (passphrase.length === 0)
    throw new JournalError('validation_failed', 'the passphrase is empty');
  const params = kdf ?? defaultKdfParams();
  const key = await exportKey(passphrase, params);
  const { header, fileKey } = newFileHeader(key, EXPORT_KID, BINDING, {
    name: file instanceof File ? file.name : '',
    type: file.type,
    size: file.size,
  });
  wipe(key);
  header.kdf = params;
  const sealed = sealFile(encodeHeader(header), header, fileKey, BINDING, file, {
    keepParts: true,
  });
  const reader = sealed.stream().getReader();
  while (!(await reader.read()).done) {
    /* one pass keeps the chunks for blob() */
  }
  return sealed.blob();
}

/**
 * The file `encryptWithPassphrase` made, decrypted (of its original type): `wrong_passphrase`
 * when the passphrase does not open it, DecryptionError when it is not such a file or tampered.
 */
export async function decryptWithPassphrase(file: Blob, passphrase: string): Promise<Blob> {
  let wrong = false;
  const opened = openFileStream(BINDING, file.stream(), async (header) => {
    if (!header.kdf || header.kid !== EXPORT_KID)
      throw new DecryptionError('not a passphrase-encrypted export', {
        attachmentId: BINDING.attachmentId,
      });
    const key = await exportKey(passphrase, header.kdf);
    try {
      return openFileHeader(key, BINDING, header);
    } catch (err) {
      wrong = true;
      throw err;
    } finally {
      wipe(key);
    }
  });
  try {
    const [meta, blob] = await Promise.all([
      opened.meta,
      collect(opened.stream, 'application/octet-stream'),
    ]);
    return new Blob([blob], { type: meta.type });
  } catch (err) {
    if (wrong)
      throw new JournalError('wrong_passphrase', 'the passphrase does not open this export', {
        cause: err,
      });
    throw err;
  }
}
