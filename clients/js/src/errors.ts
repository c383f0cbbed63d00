/** Why a call failed: an API problem `code`, or one of the client's own. */
export type ErrorCode =
  | 'validation_failed'
  | 'invalid_json'
  | 'unauthorized'
  | 'token_expired'
  | 'invalid_credentials'
  | 'forbidden'
  /** A write would go over one of the account's quotas (`JournalError.quota` says which). */
  | 'quota_exceeded'
  | 'not_found'
  | 'conflict'
  | 'username_taken'
  | 'resync_required'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'range_not_satisfiable'
  | 'rate_limited'
  | 'internal'
  | 'upstream_unavailable'
  | 'storage_not_configured'
  | 'not_ready'
  /** No answer: connection refused, cut, DNS, offline, timeout. */
  | 'network'
  /** An answer that does not match the contract (`detail` names what was wrong). */
  | 'bad_reply'
  /** Not signed in (no tokens), or the session ended. */
  | 'signed_out'
  /** The digest of downloaded bytes is not the attachment's sha256. */
  | 'digest_mismatch'
  | 'aborted'
  /** An envelope or encrypted file that does not authenticate (`DecryptionError`). */
  | 'decryption_failed'
  /** Key-derivation parameters below the minimum or above the maximum (docs/encryption.md). */
  | 'weak_key_params'
  /** The encryption passphrase does not open the key bundle. */
  | 'wrong_passphrase'
  /** The recovery key is 24 valid words but does not open the key bundle. */
  | 'wrong_recovery_key'
  /** The recovery key is not 24 valid English BIP39 words. */
  | 'invalid_recovery_key'
  | (string & {});

/** The account's quotas, as `quota_exceeded` and `client.usage()` name them. */
export type QuotaName = 'entries' | 'entryBytes' | 'attachments' | 'attachmentBytes';

/** What a `quota_exceeded` refusal says: the quota, its limit, the usage, what was asked. */
export interface QuotaExceeded {
  quota: QuotaName | (string & {});
  limit: number;
  usage: number;
  /** What the refused request would have added. */
  requested: number;
}

export interface ProblemFields {
  type?: string;
  title?: string;
  detail?: string;
  errors?: { path: string; message: string }[];
  [key: string]: unknown;
}

/** Every failure the SDK reports is a JournalError. */
export class JournalError extends Error {
  override readonly name = 'JournalError';
  readonly code: ErrorCode;
  /** HTTP status, or 0 when there was no (usable) HTTP answer. */
  readonly status: number;
  /** The problem document when the server sent one. */
  readonly problem: ProblemFields | undefined;
  /** Seconds from `Retry-After` (429/503), when given. */
  readonly retryAfter: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      status?: number;
      problem?: ProblemFields;
      retryAfter?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? 0;
    this.problem = options.problem;
    this.retryAfter = options.retryAfter;
  }

  /**
   * For `quota_exceeded` (403): which quota, its limit, the usage and what the request would
   * have added (nothing of the request was stored); undefined for any other error.
   */
  get quota(): QuotaExceeded | undefined {
    const p = this.problem;
    if (this.code !== 'quota_exceeded' || !p) return undefined;
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return {
      quota: typeof p.quota === 'string' ? p.quota : 'unknown',
      limit: num(p.limit),
      usage: num(p.usage),
      requested: num(p.requested),
    };
  }

  /** Worth retrying later: no answer, rate limited, or the service unavailable. */
  get transient(): boolean {
    return (
      this.code === 'network' ||
      this.status === 429 ||
      this.status === 502 ||
      this.status === 503 ||
      this.status === 504 ||
      (this.code === 'bad_reply' && this.status >= 500) ||
      this.status === 500
    );
  }
}

/**
 * Something encrypted failed to decrypt: tampered, moved to another entry, attachment or
 * account, truncated, or under a key this device does not hold. Names the entry or attachment
 * when known.
 */
export class DecryptionError extends JournalError {
  readonly entryId: string | undefined;
  readonly attachmentId: string | undefined;

  constructor(
    message: string,
    options: { entryId?: string; attachmentId?: string; cause?: unknown } = {},
  ) {
    super(
      'decryption_failed',
      message,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.entryId = options.entryId;
    this.attachmentId = options.attachmentId;
  }
}

export function badReply(what: string, status = 0): JournalError {
  return new JournalError('bad_reply', `unexpected reply: ${what}`, { status });
}
