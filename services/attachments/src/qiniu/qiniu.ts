import { ProblemError } from '@journal/shared';
import qiniu from 'qiniu';
import type { Config } from '../config.js';

/**
 * Qiniu cloud storage, computed locally with the `qiniu` SDK (no network call): upload tokens
 * scoped to one key of the caller's namespace, signed private download URLs, and the check of
 * Qiniu's upload-callback signature.
 */

export const USER_PREFIX = 'users/';

/** `users/<userId>/<key>`: every key a user gets a token or URL for lives below this. */
export function namespacedKey(userId: string, key: string): string {
  return `${USER_PREFIX}${userId}/${key}`;
}

/** The owner of a namespaced key, or null when the key is outside every user's namespace. */
export function ownerOfKey(key: string): string | null {
  const match = /^users\/([A-Za-z0-9_-]{1,128})\/(.+)$/s.exec(key);
  return match?.[1] ?? null;
}

function withScheme(domain: string): string {
  const trimmed = domain.replace(/\/+$/, '');
  return /^https?:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}

function decodePolicy(token: string): { deadline: number } {
  const encoded = token.slice(token.lastIndexOf(':') + 1);
  return JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as { deadline: number };
}

export interface CallbackRequest {
  /** Scheme and host the callback was addressed to (signed by Qiniu's v2 "Qiniu" scheme). */
  origin: string;
  /** Path and query as received. */
  pathAndQuery: string;
  method: string;
  contentType: string | undefined;
  headers: Record<string, string>;
  body: Buffer;
  authorization: string | undefined;
}

export function createQiniu(config: Config) {
  const { QINIU_ACCESS_KEY, QINIU_SECRET_KEY, QINIU_BUCKET_NAME, QINIU_UPLOAD_DOMAIN } = config;
  if (!QINIU_ACCESS_KEY || !QINIU_SECRET_KEY || !QINIU_BUCKET_NAME || !QINIU_UPLOAD_DOMAIN) {
    return null;
  }
  const mac = new qiniu.auth.digest.Mac(QINIU_ACCESS_KEY, QINIU_SECRET_KEY);
  const bucket = QINIU_BUCKET_NAME;
  const ttl = config.QINIU_TOKEN_TTL_SECONDS;
  const uploadUrl = withScheme(QINIU_UPLOAD_DOMAIN);
  // QINIU_DOWNLOAD_BASE_URL (the name the seed and the deployments use); QINIU_DOWNLOAD_DOMAIN
  // is its older alias.
  const downloadBase = config.QINIU_DOWNLOAD_BASE_URL ?? config.QINIU_DOWNLOAD_DOMAIN;
  const downloadDomain = downloadBase ? withScheme(downloadBase) : undefined;
  // Building a BucketManager makes no request; only its privateDownloadUrl is used.
  const bucketManager = new qiniu.rs.BucketManager(mac);

  return {
    bucket,

    /** An insert-only, size-limited upload token for exactly `users/<userId>/<key>`. */
    uploadToken(userId: string, key: string) {
      const fullKey = namespacedKey(userId, key);
      const policy = new qiniu.rs.PutPolicy({
        scope: `${bucket}:${fullKey}`,
        expires: ttl,
        insertOnly: 1,
        fsizeLimit: config.ATTACHMENTS_MAX_BYTES,
        ...(config.QINIU_CALLBACK_URL
          ? {
              callbackUrl: config.QINIU_CALLBACK_URL,
              callbackBody:
                '{"key":"$(key)","fsize":$(fsize),"hash":"$(etag)","mimeType":"$(mimeType)","bucket":"$(bucket)"}',
              callbackBodyType: 'application/json',
            }
          : {}),
      });
      const token = policy.uploadToken(mac);
      // The SDK computes the deadline itself; read it back so expiresAt is exact.
      const { deadline } = decodePolicy(token);
      return {
        token,
        key: fullKey,
        bucket,
        uploadUrl,
        expiresAt: new Date(deadline * 1000).toISOString(),
      };
    },

    /** A signed private download URL of `users/<userId>/<key>`, valid for the token TTL. */
    downloadUrl(userId: string, key: string) {
      if (!downloadDomain) {
        throw new ProblemError(
          'storage_not_configured',
          'Qiniu downloads are not configured (QINIU_DOWNLOAD_BASE_URL)',
        );
      }
      const fullKey = namespacedKey(userId, key);
      const deadline = Math.floor(Date.now() / 1000) + ttl;
      return {
        url: bucketManager.privateDownloadUrl(downloadDomain, fullKey, deadline),
        key: fullKey,
        expiresAt: new Date(deadline * 1000).toISOString(),
      };
    },

    /**
     * Checks Qiniu's callback signature with the SDK: `QBox <ak>:<sign>` over path, query and
     * body, or `Qiniu <ak>:<sign>` over method, path, host, content type, X-Qiniu-* headers and
     * body. Anything else (absent, other scheme, other access key) is refused.
     */
    verifyCallback(request: CallbackRequest): boolean {
      const { authorization } = request;
      if (!authorization || !/^(QBox|Qiniu) [^\s:]+:[A-Za-z0-9_=-]+$/.test(authorization)) {
        return false;
      }
      if (authorization.split(' ')[1]?.split(':')[0] !== QINIU_ACCESS_KEY) return false;
      const body = request.body.length > 0 ? request.body.toString('utf8') : null;
      return qiniu.util.isQiniuCallback(
        mac,
        `${request.origin}${request.pathAndQuery}`,
        body,
        authorization,
        {
          reqMethod: request.method,
          ...(request.contentType ? { reqContentType: request.contentType } : {}),
          reqHeaders: request.headers,
        },
      );
    },
  };
}

export type Qiniu = NonNullable<ReturnType<typeof createQiniu>>;
