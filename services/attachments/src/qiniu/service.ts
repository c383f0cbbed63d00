import type { IncomingHttpHeaders } from 'node:http';
import {
  ENCRYPTED_CONTENT_TYPE,
  type Logger,
  ProblemError,
  qiniuCallbackBodySchema,
} from '@journal/shared';
import type { AttachmentsQuota } from '../attachments/quota.js';
import type { AttachmentsEncryption } from '../encryption/service.js';
import type { AttachmentsMetrics } from '../metrics.js';
import { ownerOfKey, type Qiniu } from './qiniu.js';
import type { QiniuUploadsRepository } from './uploads-repository.js';

export interface QiniuServiceDeps {
  qiniu: Qiniu | null;
  uploads: QiniuUploadsRepository;
  metrics: AttachmentsMetrics;
  /** QINIU_CALLBACK_URL: its origin is what Qiniu signed as the host. */
  callbackUrl: string | undefined;
  /** The attachments quotas: a token's size limit is what is left of them; objects count. */
  quota?: AttachmentsQuota;
  /** ATTACHMENTS_MAX_BYTES: a token's size limit when the quota leaves more. */
  maxBytes?: number;
  /** True while the owner's account is being deleted (see docs/account-deletion.md). */
  isDeleted?: (owner: string) => Promise<boolean>;
  /** End-to-end encryption: an encrypted account's objects are of the encrypted type only. */
  encryption?: Pick<AttachmentsEncryption, 'required'>;
  logger?: Logger;
}

/** Qiniu's callback as it arrived: the exact bytes, since the signature covers them. */
export interface QiniuCallback {
  method: string;
  /** Path and query as requested. */
  url: string;
  protocol: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function parseCallbackBody(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (contentType?.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemError('invalid_json', 'the callback body is not valid JSON');
  }
}

/** Qiniu cloud storage: upload tokens, signed download URLs, and the upload callback. */
export function createQiniuService(deps: QiniuServiceDeps) {
  const { metrics } = deps;

  function configured(): Qiniu {
    if (!deps.qiniu) {
      throw new ProblemError(
        'storage_not_configured',
        'Qiniu storage is not configured on this server',
      );
    }
    return deps.qiniu;
  }

  return {
    async uploadToken(userId: string, key: string) {
      const qiniu = configured();
      const encrypted = (await deps.encryption?.required(userId)) ?? false;
      const reply = qiniu.uploadToken(
        userId,
        key,
        deps.quota
          ? await deps.quota.tokenSizeLimit(userId, deps.maxBytes ?? Number.MAX_SAFE_INTEGER)
          : undefined,
        encrypted,
      );
      metrics.qiniuTokens.inc();
      return reply;
    },

    downloadUrl(userId: string, key: string) {
      return configured().downloadUrl(userId, key);
    },

    /**
     * Checks the callback's signature, then its fields (a key under users/<userId>/, this
     * bucket), and records the upload. 401 for a bad signature, 400 for bad fields.
     */
    async recordUpload(callback: QiniuCallback) {
      const qiniu = configured();
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(callback.headers)) {
        if (typeof value === 'string') headers[name] = value;
      }
      const origin = deps.callbackUrl
        ? new URL(deps.callbackUrl).origin
        : `${callback.protocol}://${callback.headers.host ?? 'localhost'}`;
      const valid = qiniu.verifyCallback({
        origin,
        pathAndQuery: callback.url,
        method: callback.method,
        contentType: callback.headers['content-type'],
        headers,
        body: callback.body,
        authorization: callback.headers.authorization,
      });
      if (!valid) {
        metrics.qiniuCallbacks.inc({ result: 'bad_signature' });
        throw new ProblemError('unauthorized', 'missing or invalid Qiniu callback signature');
      }

      const parsed = qiniuCallbackBodySchema.safeParse(
        parseCallbackBody(callback.body, callback.headers['content-type']),
      );
      const owner = parsed.success ? ownerOfKey(parsed.data.key) : null;
      if (
        !parsed.success ||
        !owner ||
        (parsed.data.bucket && parsed.data.bucket !== qiniu.bucket)
      ) {
        metrics.qiniuCallbacks.inc({ result: 'invalid' });
        throw new ProblemError(
          'validation_failed',
          'the callback needs key (users/<userId>/...), fsize and hash for this bucket',
        );
      }
      const { key, fsize, hash, mimeType } = parsed.data;
      // The token of an encrypted account allows only the encrypted type; an object of another
      // (a token issued before encryption was turned on) is deleted and refused. Recorded only
      // when it could not be deleted: then `POST /attachments/encryption/finish` lists it (and
      // account deletion removes it) instead of plaintext staying in the bucket unknown.
      const refused =
        mimeType !== ENCRYPTED_CONTENT_TYPE && (await deps.encryption?.required(owner));
      const deleted = refused
        ? await qiniu.deleteObject(key).then(
            () => true,
            (err: unknown) => {
              deps.logger?.warn(
                { err },
                'could not delete the plaintext object of an encrypted account; recorded',
              );
              return false;
            },
          )
        : false;
      const refusal = () => {
        metrics.qiniuCallbacks.inc({ result: 'encryption_required' });
        return new ProblemError(
          'encryption_required',
          `the account is end-to-end encrypted: objects must be of type ${ENCRYPTED_CONTENT_TYPE}`,
        );
      };
      if (deleted) throw refusal();
      const record = {
        key,
        owner,
        bucket: qiniu.bucket,
        size: fsize,
        hash,
        mimeType: mimeType || null,
        uploadedAt: new Date(),
      };
      if (await deps.uploads.record(record)) {
        await deps.quota?.adjust(owner, { count: 1, bytes: fsize });
      }
      // Written, then checked (as uploads are): an object of an account being deleted, uploaded
      // with a token issued before the deletion, goes at once, record and object.
      if (await deps.isDeleted?.(owner)) {
        await deps.uploads.remove(key);
        await qiniu.deletePrefix(key).catch((err: unknown) => {
          deps.logger?.warn({ err }, 'could not delete the object of a deleted account');
        });
        metrics.qiniuCallbacks.inc({ result: 'account_deleted' });
        throw new ProblemError('unauthorized', 'the account has been deleted');
      }
      if (refused) throw refusal();
      metrics.qiniuCallbacks.inc({ result: 'recorded' });
      return {
        key,
        owner,
        size: fsize,
        hash,
        mimeType: record.mimeType,
        uploadedAt: record.uploadedAt.toISOString(),
      };
    },
  };
}

export type QiniuService = ReturnType<typeof createQiniuService>;
