/** The problem codes of docs/api.md, with their HTTP status and title. */
export const problemCodes = {
  validation_failed: { status: 400, title: 'Validation failed' },
  invalid_json: { status: 400, title: 'Malformed JSON body' },
  invalid_bundle_change: { status: 400, title: 'Invalid key bundle change' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  token_expired: { status: 401, title: 'Access token expired' },
  invalid_credentials: { status: 401, title: 'Invalid credentials' },
  forbidden: { status: 403, title: 'Forbidden' },
  quota_exceeded: { status: 403, title: 'Quota exceeded' },
  encryption_required: { status: 403, title: 'Encryption required' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  username_taken: { status: 409, title: 'Username taken' },
  version_conflict: { status: 409, title: 'Version conflict' },
  migration_in_progress: { status: 409, title: 'Migration in progress' },
  plaintext_remaining: { status: 409, title: 'Plaintext remaining' },
  encryption_not_enabled: { status: 409, title: 'Encryption not enabled' },
  resync_required: { status: 410, title: 'Resync required' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  range_not_satisfiable: { status: 416, title: 'Range not satisfiable' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal server error' },
  upstream_unavailable: { status: 503, title: 'Upstream unavailable' },
  storage_not_configured: { status: 503, title: 'Storage not configured' },
  not_ready: { status: 503, title: 'Not ready' },
} as const;

export type ProblemCode = keyof typeof problemCodes;

export interface FieldError {
  path: string;
  message: string;
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export interface ProblemOptions {
  /** Overrides the code's default status (e.g. 502/504 for upstream_unavailable). */
  status?: number;
  errors?: FieldError[];
  /** Response headers to set, e.g. Retry-After. */
  headers?: Record<string, string>;
  /** Extra members of the problem document. */
  extensions?: Record<string, unknown>;
  cause?: unknown;
}

export const PROBLEM_TYPE_BASE = 'https://journal.dev/problems/';

/** A domain error that the shared error handler turns into an RFC 9457 problem document. */
export class ProblemError extends Error {
  readonly code: ProblemCode;
  readonly statusCode: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(code: ProblemCode, detail?: string, options: ProblemOptions = {}) {
    super(detail ?? problemCodes[code].title, { cause: options.cause });
    this.name = 'ProblemError';
    this.code = code;
    this.statusCode = options.status ?? problemCodes[code].status;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }

  toProblem(instance?: string): ProblemDocument {
    return problemDocument(this.code, this.message, {
      status: this.statusCode,
      errors: this.errors,
      extensions: { ...this.extensions, ...(instance ? { instance } : {}) },
    });
  }
}

export function problemDocument(
  code: ProblemCode,
  detail?: string,
  options: Pick<ProblemOptions, 'status' | 'errors' | 'extensions'> = {},
): ProblemDocument {
  const { title, status } = problemCodes[code];
  return {
    ...options.extensions,
    type: PROBLEM_TYPE_BASE + code,
    title,
    status: options.status ?? status,
    detail: detail ?? title,
    code,
    ...(options.errors ? { errors: options.errors } : {}),
  };
}

/** The code used for a bare HTTP status that carries no code of its own. */
export function codeForStatus(status: number): ProblemCode {
  switch (status) {
    case 400:
      return 'validation_failed';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 409:
      return 'conflict';
    case 410:
      return 'resync_required';
    case 412:
      return 'precondition_failed';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 416:
      return 'range_not_satisfiable';
    case 429:
      return 'rate_limited';
    case 502:
    case 503:
    case 504:
      return 'upstream_unavailable';
    default:
      return status >= 400 && status < 500 ? 'validation_failed' : 'internal';
  }
}
