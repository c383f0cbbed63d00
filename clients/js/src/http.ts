import { badReply, JournalError, type ProblemFields } from './errors.js';
import { isObject } from './util.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RequestOptions {
  method?: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body. */
  json?: unknown;
  /**
   * A raw body (attachments), or a function making one for each try (a stream can be read
   * once: an upload sent again after a token refresh needs a new one).
   */
  body?: BodyInit | (() => BodyInit);
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Give up (code `network`) when no complete answer head arrives in this time. */
  timeoutMs?: number;
}

function retryAfterSeconds(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - Date.now()) / 1000);
}

/** Turns a non-2xx answer into a JournalError carrying the problem document's `code`. */
export async function errorFromResponse(res: Response): Promise<JournalError> {
  let problem: ProblemFields | undefined;
  let code = `http_${res.status}`;
  let detail = res.statusText || `HTTP ${res.status}`;
  try {
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (isObject(parsed)) {
      problem = parsed as ProblemFields;
      if (typeof parsed.code === 'string') code = parsed.code;
      if (typeof parsed.detail === 'string') detail = parsed.detail;
    }
  } catch {
    // Not a problem document (a proxy's HTML page, a cut body): keep the status.
  }
  if (!problem) {
    if (res.status === 429) code = 'rate_limited';
    else if (res.status >= 502 && res.status <= 504) code = 'upstream_unavailable';
  }
  const retryAfter = retryAfterSeconds(res);
  return new JournalError(code, `${res.status} ${code}: ${detail}`, {
    status: res.status,
    ...(problem ? { problem } : {}),
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });
}

export function networkError(cause: unknown): JournalError {
  if (cause instanceof JournalError) return cause;
  const aborted = (cause as { name?: string } | undefined)?.name === 'AbortError';
  return new JournalError(
    aborted ? 'aborted' : 'network',
    aborted ? 'request aborted' : `network failure: ${String((cause as Error)?.message ?? cause)}`,
    { cause },
  );
}

function isStream(body: unknown): boolean {
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream;
}

/** Plain HTTP against the gateway: URL building, JSON in and out, errors typed. */
export class Http {
  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: FetchLike,
    private readonly timeoutMs = 60_000,
  ) {}

  url(path: string, query?: RequestOptions['query']): string {
    const base = this.baseUrl.replace(/\/+$/, '');
    const qs = query
      ? Object.entries(query)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
          .join('&')
      : '';
    return `${base}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Sends one request; any answer (even 4xx/5xx) resolves, no answer rejects with `network`. */
  async send(path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    let body = typeof opts.body === 'function' ? opts.body() : opts.body;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    if (opts.signal?.aborted) controller.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, opts.timeoutMs ?? this.timeoutMs);
    try {
      return await this.fetchImpl(this.url(path, opts.query), {
        method: opts.method ?? 'GET',
        headers,
        ...(body === undefined ? {} : { body }),
        // A streamed body (Node's fetch) must say it is sent while the answer may arrive.
        ...(isStream(body) ? { duplex: 'half' } : {}),
        signal: controller.signal,
      } as RequestInit);
    } catch (err) {
      if (timedOut) throw new JournalError('network', `no answer from ${path} in time`);
      throw networkError(err);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** Reads a JSON success body; a cut or non-JSON body is a typed `bad_reply`/`network` error. */
export async function readJson(res: Response): Promise<unknown> {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw networkError(err);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw badReply(`${res.status} body is not JSON (${text.length} bytes)`, res.status);
  }
}
