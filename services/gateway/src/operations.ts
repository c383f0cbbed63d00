import { allOperations, DEFAULT_BODY_LIMIT_BYTES, type Operation } from '@journal/shared';
import type { FastifyRequest } from 'fastify';

/** What the gateway knows about one call before proxying it. */
export interface Call {
  /** The operation of the shared table the call is, if any (unknown paths have none). */
  operation: Operation | undefined;
  /** Anyone may make it: exactly the operations the table marks `auth: false`. */
  public: boolean;
  /** Metric label: the operation's `METHOD /path/:pattern`, never the raw path; else undefined. */
  route: string | undefined;
  /** Largest body the call accepts (the same limit its service enforces). */
  bodyLimit: number;
}

export interface OperationMatcherOptions {
  /** What `bodyLimit: 'configured'` means here (ATTACHMENTS_MAX_BYTES). */
  configuredMaxBytes: number;
}

const escapeRegExp = (segment: string) => segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** `/storage/qiniu/token` → `/storage`: the section an upstream prefix routes. */
function sectionOf(path: string): string {
  const end = path.indexOf('/', 1);
  return end === -1 ? path : path.slice(0, end);
}

const CALL = Symbol('journal.call');
type WithCall = FastifyRequest & { [CALL]?: Call };

/**
 * The one place the gateway reads the operation table (shared/src/api): which operation a
 * request is (exact paths by lookup, `:param` segments as one non-empty segment, method and
 * case exact, query ignored), and from it whether the call is public, its route label and its
 * body limit. A path no operation has is not public (an anonymous caller learns nothing about
 * which paths exist), has no route label, and gets the smallest body limit of its section.
 */
export function createOperationMatcher(
  options: OperationMatcherOptions,
  operations: Operation[] = allOperations,
) {
  const limitOf = (op: Operation) =>
    op.bodyLimit === 'configured'
      ? options.configuredMaxBytes
      : (op.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES);
  const callOf = (op: Operation): Call => ({
    operation: op,
    public: !op.auth,
    route: `${op.method} ${op.path}`,
    bodyLimit: limitOf(op),
  });

  const exact = new Map<string, Call>();
  const patterns: { method: string; path: RegExp; call: Call }[] = [];
  const sectionLimits = new Map<string, number>();
  for (const op of operations) {
    const call = callOf(op);
    const section = sectionOf(op.path);
    sectionLimits.set(section, Math.min(sectionLimits.get(section) ?? Infinity, call.bodyLimit));
    if (!op.path.includes(':')) {
      exact.set(`${op.method} ${op.path}`, call);
      continue;
    }
    const source = op.path
      .split('/')
      .map((segment) => (segment.startsWith(':') ? '[^/]+' : escapeRegExp(segment)))
      .join('/');
    patterns.push({ method: op.method, path: new RegExp(`^${source}$`), call });
  }

  function match(method: string, url: string): Call {
    const path = pathOf(url);
    const hit = exact.get(`${method} ${path}`);
    if (hit) return hit;
    for (const p of patterns) if (p.method === method && p.path.test(path)) return p.call;
    return {
      operation: undefined,
      public: false,
      route: undefined,
      bodyLimit: sectionLimits.get(sectionOf(path)) ?? DEFAULT_BODY_LIMIT_BYTES,
    };
  }

  return {
    match,
    /** `match` for a request, worked out once and kept on the request for the later hooks. */
    forRequest(request: FastifyRequest): Call {
      const r = request as WithCall;
      r[CALL] ??= match(request.method, request.url);
      return r[CALL];
    },
  };
}

export type OperationMatcher = ReturnType<typeof createOperationMatcher>;
