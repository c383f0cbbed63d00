import {
  dependencyFailed,
  dependencyFailures,
  ENCRYPTED_CONTENT_TYPE,
  ProblemError,
  withDeadline,
} from '@journal/shared';
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

/**
 * Bounds of every resource-management call (list, batch delete), whatever the host does:
 * connecting (DNS included) and then answering each have their own limit in the SDK's HTTP
 * client, and the whole call (the SDK retries other endpoints of the zone) has a deadline.
 */
export const QINIU_CONNECT_TIMEOUT_MS = 5_000;
export const QINIU_RESPONSE_TIMEOUT_MS = 15_000;
export const QINIU_CALL_DEADLINE_MS = 30_000;

/** One management call: bounded, and any failure counted as Qiniu's and reduced to one line. */
async function managementCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await withDeadline(call(), QINIU_CALL_DEADLINE_MS, what);
  } catch (err) {
    throw dependencyFailed('qiniu', what, err);
  }
}

/**
 * The SDK configuration of resource management: with QINIU_RS_HOST/QINIU_RSF_HOST, a zone of
 * exactly those hosts (https:// unless http:// is given); without, the SDK's region lookup.
 */
function managementConfig(config: Config): InstanceType<typeof qiniu.conf.Config> {
  const { QINIU_RS_HOST: rs, QINIU_RSF_HOST: rsf } = config;
  if (!rs && !rsf) return new qiniu.conf.Config({ useHttpsDomain: true });
  const host = (domain: string | undefined) =>
    domain?.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  const http = [rs, rsf].some((d) => d && /^http:\/\//i.test(d));
  return new qiniu.conf.Config({
    useHttpsDomain: !http,
    zone: new qiniu.conf.Zone([], [], '', host(rs), host(rsf), ''),
  });
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
  // Building a BucketManager makes no request: download URLs are computed locally; listing and
  // batch delete (account deletion) go to the RS/RSF hosts, configured or looked up by region.
  const bucketManager = new qiniu.rs.BucketManager(mac, managementConfig(config));
  // The SDK's default is RPC_TIMEOUT, 600 s; its HTTP client takes [connect, response] (urllib).
  (bucketManager as unknown as { _httpClient: { timeout?: number[] } })._httpClient.timeout = [
    QINIU_CONNECT_TIMEOUT_MS,
    QINIU_RESPONSE_TIMEOUT_MS,
  ];
  // A zero series from the start, so the failure counter exists before the first failure.
  dependencyFailures.inc({ dependency: 'qiniu' }, 0);

  /**
   * Deletes exactly `keys` (at most 1000) with one batch call; objects already gone (612) count
   * as done. Returns how many existed.
   */
  async function batchDelete(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const result = await managementCall('Qiniu batch delete', () =>
      bucketManager.batch(keys.map((key) => qiniu.rs.deleteOp(bucket, key))),
    );
    const status = result.resp.statusCode ?? 0;
    const replies = Array.isArray(result.data) ? (result.data as { code?: unknown }[]) : [];
    const codes = replies.map((r) => (typeof r?.code === 'number' ? r.code : 0));
    const failed = codes.filter((code) => code !== 200 && code !== 612);
    if (![200, 298].includes(status) || codes.length !== keys.length || failed.length > 0) {
      throw dependencyFailed(
        'qiniu',
        'Qiniu batch delete',
        new Error(
          `answered ${status} (${codes.length}/${keys.length} results; ${failed.join(', ')})`,
        ),
      );
    }
    return codes.filter((code) => code === 200).length;
  }

  return {
    bucket,

    /**
     * An insert-only, size-limited upload token for exactly `users/<userId>/<key>`: at most
     * `maxBytes` (ATTACHMENTS_MAX_BYTES, or what is left of the caller's quota when less). For
     * an end-to-end encrypted account (`encrypted`), only of MIME type
     * `application/vnd.journal.encrypted`, as the uploader declares it (`detectMime: 0`: Qiniu
     * takes the declared type, never one sniffed from the ciphertext).
     */
    uploadToken(
      userId: string,
      key: string,
      maxBytes = config.ATTACHMENTS_MAX_BYTES,
      encrypted = false,
    ) {
      const fullKey = namespacedKey(userId, key);
      const policy = new qiniu.rs.PutPolicy({
        scope: `${bucket}:${fullKey}`,
        expires: ttl,
        insertOnly: 1,
        fsizeLimit: maxBytes,
        ...(encrypted ? { mimeLimit: ENCRYPTED_CONTENT_TYPE, detectMime: 0 } : {}),
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
     * Deletes every object whose key starts with `prefix` through Qiniu's list and batch
     * delete APIs, page by page (1000 keys a call), each request signed by the SDK. Objects
     * already gone count as deleted (code 612), so a repeat is harmless. Returns how many
     * objects were deleted.
     */
    async deletePrefix(prefix: string): Promise<number> {
      let marker = '';
      let deleted = 0;
      do {
        const listed = await managementCall('Qiniu list', () =>
          bucketManager.listPrefix(bucket, { prefix, limit: 1000, marker }),
        );
        const page = listed.data as { items?: unknown; marker?: unknown } | undefined;
        if (
          listed.resp.statusCode !== 200 ||
          typeof page !== 'object' ||
          page === null ||
          !Array.isArray(page.items) ||
          (page.marker !== undefined && typeof page.marker !== 'string')
        ) {
          // A 5xx, or a 200 whose body is not a listing (garbage from a proxy): never read as
          // "nothing left", which would complete the deletion with objects still there.
          throw dependencyFailed(
            'qiniu',
            'Qiniu list',
            new Error(`answered ${listed.resp.statusCode} without a listing`),
          );
        }
        const keys = (page.items as { key?: unknown }[])
          .map((item) => item?.key)
          .filter((k): k is string => typeof k === 'string' && k.startsWith(prefix));
        deleted += await batchDelete(keys);
        marker = typeof page.marker === 'string' ? page.marker : '';
      } while (marker);
      return deleted;
    },

    /** Deletes exactly the object `key` (gone already counts as deleted). */
    async deleteObject(key: string): Promise<void> {
      await batchDelete([key]);
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
