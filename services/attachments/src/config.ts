import {
  accountDeletionConfigShape,
  attachmentsLimitShape,
  envInt,
  mongoConfigShape,
  serviceConfigSchema,
} from '@journal/shared';
import { z } from 'zod';

const MiB = 1024 * 1024;

/** A Qiniu domain: a host name, or a URL with http(s) scheme; https:// is added when absent. */
const qiniuDomain = z
  .string()
  .regex(/^(https?:\/\/)?[A-Za-z0-9.-]+(:\d{1,5})?\/?$/, {
    error: 'must be a host name or an http(s):// URL without a path',
  })
  .optional();

/** Like a domain, with an optional path prefix (no query or fragment). */
const qiniuBaseUrl = z
  .string()
  .regex(/^(https?:\/\/)?[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$/, {
    error: 'must be a host name or an http(s):// URL without a query',
  })
  .optional();

export const configSchema = serviceConfigSchema({
  ...mongoConfigShape,
  ...accountDeletionConfigShape,
  PORT: envInt(0, 65535).default(8003),
  ...attachmentsLimitShape,
  /** Quotas per account (docs/scaling.md, "Quotas"): attachments and their bytes; 0 = none. */
  QUOTA_ATTACHMENTS: envInt(0, 2 ** 40).default(20_000),
  QUOTA_ATTACHMENT_BYTES: envInt(0, 2 ** 53 - 1).default(10 * 1024 * MiB),
  /** How often each replica settles uploads and deletes left by a dead process. 0 turns it off. */
  ATTACHMENTS_SWEEP_INTERVAL_SECONDS: envInt(0, 86_400).default(600),
  /** A pending upload or delete older than this is settled (a live upload refreshes every 60 s). */
  ATTACHMENTS_ORPHAN_GRACE_SECONDS: envInt(300, 30 * 86_400).default(3600),
  QINIU_ACCESS_KEY: z.string().min(1).optional(),
  QINIU_SECRET_KEY: z.string().min(1).optional(),
  QINIU_BUCKET_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,63}$/, { error: 'must be 1-63 of A-Z a-z 0-9 _ -' })
    .optional(),
  QINIU_UPLOAD_DOMAIN: qiniuDomain,
  /**
   * Base URL of the domain bound to the bucket (a host name gets https://; a path prefix is
   * kept), for signed private download URLs.
   */
  QINIU_DOWNLOAD_BASE_URL: qiniuBaseUrl,
  /** The older name of QINIU_DOWNLOAD_BASE_URL, still read when that is unset. */
  QINIU_DOWNLOAD_DOMAIN: qiniuBaseUrl,
  /**
   * Qiniu's resource-management (batch delete) and listing hosts, e.g. `rs-z2.qiniuapi.com`;
   * https:// unless an http:// URL is given. Unset: the SDK asks Qiniu for the bucket's region.
   */
  QINIU_RS_HOST: qiniuDomain,
  QINIU_RSF_HOST: qiniuDomain,
  /** Lifetime of upload tokens and download URLs. */
  QINIU_TOKEN_TTL_SECONDS: envInt(30, 86_400).default(900),
  /** When set, upload tokens ask Qiniu to call this URL (POST /storage/qiniu/callback) after an upload. */
  QINIU_CALLBACK_URL: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, { error: 'must be an http:// or https:// URL' })
    .optional(),
});

export type Config = z.infer<typeof configSchema>;
