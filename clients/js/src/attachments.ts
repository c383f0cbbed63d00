import { sha256 } from '@noble/hashes/sha2.js';
import type { Auth } from './auth.js';
import { badReply, JournalError } from './errors.js';
import { errorFromResponse, type FetchLike, networkError, readJson } from './http.js';
import { safeBlobType } from './media.js';
import type { Attachment, QiniuUploadToken } from './types.js';
import { backoffMs, ID_PATTERN, sleep, toHex } from './util.js';
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

export interface UploadOptions {
  contentType?: string;
}

export interface DownloadOptions {
  /** How many times an interrupted download resumes (with Range) before failing. Default 5. */
  maxResumes?: number;
  signal?: AbortSignal;
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
  ) {}

  private check(id: string): void {
    if (!ID_PATTERN.test(id)) {
      throw new JournalError('validation_failed', 'id must match ^[A-Za-z0-9_-]{1,128}$');
    }
  }

  /**
   * Uploads `blob` under `id` with its SHA-256 in `x-content-sha256` (the server refuses bytes
   * that do not match). The same bytes again answer the same Attachment.
   */
  async upload(id: string, blob: Blob, opts: UploadOptions = {}): Promise<Attachment> {
    this.check(id);
    const contentType = opts.contentType || blob.type || 'application/octet-stream';
    const digest = await blobSha256(blob);
    const res = await this.auth.request(`/attachments/${encodeURIComponent(id)}`, {
      method: 'PUT',
      body: blob,
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
   * Downloads an attachment. A connection cut mid-body resumes from the bytes received with
   * `Range` + `If-Range` (the ETag), and the whole is verified against the SHA-256 before it
   * is returned (`digest_mismatch` otherwise).
   */
  async download(id: string, opts: DownloadOptions = {}): Promise<Blob> {
    this.check(id);
    const maxResumes = opts.maxResumes ?? 5;
    const parts: Uint8Array[] = [];
    let h = sha256.create();
    let received = 0;
    let etag: string | undefined;
    let total: number | undefined;
    let contentType = 'application/octet-stream';
    let attempt = 0;
    for (;;) {
      const headers: Record<string, string> = {};
      if (received > 0 && etag) {
        headers.range = `bytes=${received}-`;
        headers['if-range'] = etag;
      }
      let res: Response;
      try {
        res = await this.auth.request(`/attachments/${encodeURIComponent(id)}`, {
          headers,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        if (err instanceof JournalError && err.code === 'network' && attempt < maxResumes) {
          await sleep(backoffMs(attempt++, 100, 2000), opts.signal);
          continue;
        }
        throw err;
      }
      if (res.status === 206 && received > 0) {
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
        if (!range || Number(range[1]) !== received) {
          throw badReply(
            `Content-Range ${res.headers.get('content-range')} for bytes=${received}-`,
            206,
          );
        }
      } else if (res.status === 200) {
        // The whole file (first request, or the file changed since: start over).
        parts.length = 0;
        received = 0;
        h = sha256.create();
        etag = res.headers.get('etag') ?? undefined;
        contentType = res.headers.get('content-type') ?? contentType;
        const length = res.headers.get('content-length');
        total = length === null ? undefined : Number(length);
      } else {
        throw await errorFromResponse(res);
      }
      if (!res.body) throw badReply('a body', res.status);
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
          h.update(value);
          received += value.length;
        }
      } catch (err) {
        if (attempt < maxResumes && etag) {
          attempt++;
          continue;
        }
        throw networkError(err);
      }
      if (total !== undefined && received < total) {
        if (attempt++ < maxResumes && etag) continue;
        throw new JournalError('network', `download of ${id} ended at ${received}/${total} bytes`);
      }
      break;
    }
    const digest = toHex(h.digest());
    const expected = /^"([0-9a-f]{64})"$/.exec(etag ?? '')?.[1];
    if (!expected) throw badReply(`ETag ${etag} is not a quoted SHA-256`);
    if (digest !== expected) {
      throw new JournalError(
        'digest_mismatch',
        `downloaded ${id}: sha256 ${digest}, expected ${expected}`,
      );
    }
    // Never the server's type as it is: a stored SVG or HTML opened from a blob: URL would run
    // script in the app's origin. Only allowlisted media keep their type.
    return new Blob(parts as BlobPart[], { type: safeBlobType(contentType) });
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
    const form = new FormData();
    form.append('token', t.token);
    form.append('key', t.key);
    form.append(
      'file',
      opts.contentType ? new Blob([blob], { type: opts.contentType }) : blob,
      key.split('/').pop() ?? 'file',
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
