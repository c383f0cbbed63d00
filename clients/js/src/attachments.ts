import { sha256 } from '@noble/hashes/sha2.js';
import { type DownloadOptions, downloadVerified, fetchRange } from './attachment-download.js';
import type { Auth } from './auth.js';
import { ENCRYPTED_CONTENT_TYPE } from './crypto/index.js';
import { badReply, JournalError } from './errors.js';
import { errorFromResponse, type FetchLike, networkError, readJson } from './http.js';
import { safeBlobType } from './media.js';
import type { Attachment, QiniuUploadToken } from './types.js';
import { ID_PATTERN, toHex } from './util.js';
import * as v from './validate.js';

const CHUNK = 1024 * 1024;

/** Lower-case hex SHA-256 of a Blob, read a slice at a time (not the whole file at once). */
export async function blobSha256(blob: Blob): Promise<string> {
  const h = sha256.create();
  for (let offset = 0; offset < blob.size; offset += CHUNK) {
    h.update(new Uint8Array(await blob.slice(offset, offset + CHUNK).arrayBuffer()));
  }
  return toHex(h.digest());
}

export type { DownloadOptions } from './attachment-download.js';

export interface UploadOptions {
  contentType?: string;
  /** The file's name, kept (encrypted) with an end-to-end encrypted upload. */
  name?: string;
}

/** An attachment's bytes as uploaded, with its real type (and name, when encrypted). */
export interface AttachmentFile {
  blob: Blob;
  type: string;
  name?: string;
}

/** What an encrypted upload sends: the ciphertext's digest, size and body. */
export interface SealedUpload {
  contentType: string;
  sha256: string;
  /** A fresh body for each try (a stream in Node, the ciphertext Blob elsewhere). */
  body(): BodyInit;
  /** The whole ciphertext (Qiniu's form upload; sealed with `whole`). */
  blob(): Blob | Promise<Blob>;
}

/** End-to-end encryption of uploads and downloads (encryption/files.ts). */
export interface AttachmentCrypto {
  /**
   * The upload as sent when the account is encrypted (`encryption_locked` while this device
   * holds no keys); undefined when it goes as it is. `whole`: sent as one Blob (a form).
   */
  seal(
    id: string,
    blob: Blob,
    meta: { name: string; type: string },
    whole?: boolean,
  ): Promise<SealedUpload | undefined>;
  /** Decrypts a whole encrypted file (a failure is recorded and thrown: DecryptionError). */
  open(id: string, cipher: Blob): Promise<AttachmentFile>;
  /** Plaintext bytes [start, end] of an encrypted file of `size` stored bytes. */
  range(
    id: string,
    start: number,
    end: number,
    size: number,
    fetch: (from: number, to: number) => Promise<Uint8Array>,
  ): Promise<Uint8Array>;
}

function isEncryptedType(contentType: string): boolean {
  return contentType.split(';')[0]?.trim().toLowerCase() === ENCRYPTED_CONTENT_TYPE;
}

/** The result of a direct Qiniu upload: the object key and Qiniu's reply to the form POST. */
export interface QiniuUploadResult {
  key: string;
  bucket: string;
  reply: unknown;
}

export class Attachments {
  constructor(
    private readonly auth: Auth,
    private readonly fetchImpl: FetchLike,
    private readonly crypto?: AttachmentCrypto,
  ) {}

  private check(id: string): void {
    if (!ID_PATTERN.test(id)) {
      throw new JournalError('validation_failed', 'id must match ^[A-Za-z0-9_-]{1,128}$');
    }
  }

  /**
   * Uploads `blob` under `id` with its SHA-256 in `x-content-sha256` (the server refuses bytes
   * that do not match). The same bytes again answer the same Attachment. With end-to-end
   * encryption on, the encrypted file goes (its type and name inside it, encrypted).
   */
  async upload(id: string, blob: Blob, opts: UploadOptions = {}): Promise<Attachment> {
    this.check(id);
    const type = opts.contentType || blob.type || 'application/octet-stream';
    const sealed = await this.crypto?.seal(id, blob, { name: opts.name ?? '', type });
    const contentType = sealed ? sealed.contentType : type;
    const digest = sealed ? sealed.sha256 : await blobSha256(blob);
    const res = await this.auth.request(`/attachments/${encodeURIComponent(id)}`, {
      method: 'PUT',
      body: sealed ? () => sealed.body() : blob,
      headers: { 'content-type': contentType, 'x-content-sha256': digest },
      timeoutMs: 10 * 60_000,
    });
    if (!res.ok) throw await errorFromResponse(res);
    const a = v.attachment(await readJson(res), 'attachment');
    if (a.sha256 !== digest) throw badReply(`attachment.sha256 ${a.sha256} is not ${digest}`);
    return a;
  }

  /** Metadata of one attachment (HEAD). */
  async head(id: string): Promise<{ size: number; sha256: string; contentType: string }> {
    this.check(id);
    const res = await this.auth.request(`/attachments/${encodeURIComponent(id)}`, {
      method: 'HEAD',
    });
    if (!res.ok) {
      throw new JournalError(
        res.status === 404 ? 'not_found' : `http_${res.status}`,
        `HEAD ${id}: ${res.status}`,
        { status: res.status },
      );
    }
    const etag = res.headers.get('etag') ?? '';
    const sha = /^"([0-9a-f]{64})"$/.exec(etag)?.[1];
    if (!sha) throw badReply(`ETag ${etag} is not a quoted SHA-256`, res.status);
    return {
      size: Number(res.headers.get('content-length') ?? '0'),
      sha256: sha,
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  /**
   * Downloads an attachment (resuming a cut connection, verified against its SHA-256:
   * attachment-download.ts). An end-to-end encrypted one is decrypted: the Blob has the type
   * it was uploaded with (allowlisted media only, as for every download).
   */
  async download(id: string, opts: DownloadOptions = {}): Promise<Blob> {
    const f = await this.file(id, opts);
    // Never the stored type as it is: a stored SVG or HTML opened from a blob: URL would run
    // script in the app's origin. Only allowlisted media keep their type.
    return new Blob([f.blob], { type: safeBlobType(f.type) });
  }

  /** An attachment's bytes (decrypted when encrypted) with its real type and name. */
  async file(id: string, opts: DownloadOptions = {}): Promise<AttachmentFile> {
    this.check(id);
    const stored = await downloadVerified(this.auth, id, opts);
    if (!isEncryptedType(stored.contentType))
      return { blob: stored.blob, type: stored.contentType };
    if (!this.crypto) throw new JournalError('encryption_locked', `attachment ${id} is encrypted`);
    return this.crypto.open(id, stored.blob);
  }

  /**
   * Bytes `[start, end]` (inclusive, clamped to the file) of an attachment. Encrypted: its
   * header, then only the chunks that cover the range, decrypted.
   */
  async downloadRange(id: string, start: number, end: number): Promise<Uint8Array> {
    this.check(id);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new JournalError('validation_failed', 'a range is 0 <= start <= end');
    }
    const meta = await this.head(id);
    if (isEncryptedType(meta.contentType)) {
      if (!this.crypto)
        throw new JournalError('encryption_locked', `attachment ${id} is encrypted`);
      const etag = `"${meta.sha256}"`;
      return this.crypto.range(id, start, end, meta.size, async (from, to) => {
        return (await fetchRange(this.auth, id, from, to, etag)).bytes;
      });
    }
    if (start >= meta.size) return new Uint8Array(0);
    const last = Math.min(end, meta.size - 1);
    return (await fetchRange(this.auth, id, start, last, `"${meta.sha256}"`)).bytes;
  }

  /** Every attachment of the user (follows `nextCursor`). */
  async list(): Promise<Attachment[]> {
    const out: Attachment[] = [];
    let cursor: string | null = null;
    do {
      const page = v.attachmentList(
        await this.auth.json('/attachments', {
          query: { limit: 100, ...(cursor ? { cursor } : {}) },
        }),
        'attachments',
      );
      out.push(...page.attachments);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  async delete(id: string): Promise<void> {
    this.check(id);
    const res = await this.auth.request(`/attachments/${encodeURIComponent(id)}`, {
      method: 'DELETE',
    });
    if (!res.ok) throw await errorFromResponse(res);
  }

  /** An upload token for `key` in the user's Qiniu namespace (`storage_not_configured` without Qiniu). */
  async qiniuToken(key: string): Promise<QiniuUploadToken> {
    return v.qiniuToken(
      await this.auth.json('/storage/qiniu/token', { query: { key } }),
      'qiniu token',
    );
  }

  /**
   * Uploads a (large) file straight to the Qiniu bucket: an upload token from the server, then
   * Qiniu's multipart form upload to the token's `uploadUrl`.
   */
  async uploadToQiniu(
    key: string,
    blob: Blob,
    opts: { contentType?: string } = {},
  ): Promise<QiniuUploadResult> {
    const t = await this.qiniuToken(key);
    const name = key.split('/').pop() ?? 'file';
    const type = opts.contentType || blob.type || 'application/octet-stream';
    // Encrypted like any upload, bound to the object key.
    const sealed = await this.crypto?.seal(key, blob, { name, type }, true);
    const form = new FormData();
    form.append('token', t.token);
    form.append('key', t.key);
    form.append(
      'file',
      sealed
        ? new Blob([await sealed.blob()], { type: sealed.contentType })
        : opts.contentType
          ? new Blob([blob], { type: opts.contentType })
          : blob,
      name,
    );
    let res: Response;
    try {
      res = await this.fetchImpl(t.uploadUrl, { method: 'POST', body: form });
    } catch (err) {
      throw networkError(err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    const text = await res.text();
    let reply: unknown = text;
    try {
      reply = JSON.parse(text);
    } catch {
      // Qiniu answers JSON; keep the text otherwise.
    }
    return { key: t.key, bucket: t.bucket, reply };
  }
}
