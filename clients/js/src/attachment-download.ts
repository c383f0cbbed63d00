import { sha256 } from '@noble/hashes/sha2.js';
import type { Auth } from './auth.js';
import { badReply, JournalError } from './errors.js';
import { errorFromResponse, networkError } from './http.js';
import { backoffMs, sleep, toHex } from './util.js';

export interface DownloadOptions {
  /** How many times an interrupted download resumes (with Range) before failing. Default 5. */
  maxResumes?: number;
  signal?: AbortSignal;
}

/** An attachment's stored bytes as the server keeps them, and their Content-Type. */
export interface StoredBytes {
  blob: Blob;
  contentType: string;
}

const path = (id: string) => `/attachments/${encodeURIComponent(id)}`;

/**
 * Downloads an attachment's stored bytes. A connection cut mid-body resumes from the bytes
 * received with `Range` + `If-Range` (the ETag), and the whole is verified against the SHA-256
 * before it is returned (`digest_mismatch` otherwise).
 */
export async function downloadVerified(
  auth: Auth,
  id: string,
  opts: DownloadOptions = {},
): Promise<StoredBytes> {
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
      res = await auth.request(path(id), {
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
  return { blob: new Blob(parts as BlobPart[]), contentType };
}

/**
 * Bytes `[start, end]` (inclusive) of an attachment's stored bytes (`Range`), pinned to the
 * ETag when given (`If-Range`: a file replaced meantime answers whole, which is refused).
 */
export async function fetchRange(
  auth: Auth,
  id: string,
  start: number,
  end: number,
  etag?: string,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; total: number; contentType: string; etag: string | undefined }> {
  const res = await auth.request(path(id), {
    headers: { range: `bytes=${start}-${end}`, ...(etag ? { 'if-range': etag } : {}) },
    ...(signal ? { signal } : {}),
  });
  if (res.status !== 206 && res.status !== 200) throw await errorFromResponse(res);
  const contentType = res.headers.get('content-type') ?? 'application/octet-stream';
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw networkError(err);
  }
  if (res.status === 200) {
    // The whole file: the server ignored the range (or the file changed under the ETag).
    if (etag) throw new JournalError('conflict', `attachment ${id} changed during a ranged read`);
    return {
      bytes: bytes.subarray(start, end + 1),
      total: bytes.length,
      contentType,
      etag: res.headers.get('etag') ?? undefined,
    };
  }
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  if (!range || Number(range[1]) !== start) {
    throw badReply(
      `Content-Range ${res.headers.get('content-range')} for bytes=${start}-${end}`,
      206,
    );
  }
  return {
    bytes,
    total: Number(range[3]),
    contentType,
    etag: res.headers.get('etag') ?? undefined,
  };
}
