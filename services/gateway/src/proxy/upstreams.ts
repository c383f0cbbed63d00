import proxy from '@fastify/http-proxy';
import { LONG_POLL_EXTRA_MS, ProblemError, sendProblem, tracingConfigured } from '@journal/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { GatewayMetrics } from '../metrics.js';
import type { OperationMatcher } from '../operations.js';
import { createLongPollLimiter } from './long-polls.js';

/** Headers a client could use to claim an identity; never passed upstream as sent. */
const IDENTITY_HEADER =
  /^(x-user-id|x-session-id|x-forwarded-user|x-remote-user|x-auth-.*|x-authenticated-.*|x-journal-.*)$/i;

export interface Upstream {
  name: 'auth' | 'sync' | 'attachments';
  prefix: string;
  url: string;
  /** How long to wait for response headers: long-polls hold up to 30 s. */
  headersTimeoutMs: number;
  /** Most connections to the upstream at once (a request beyond them queues). */
  connections: number;
}

/** The path of the long-poll, proxied with a pool of its own. */
const LONG_POLL_PREFIX = '/sync/changes';

/**
 * Where each path prefix goes. `/sync/changes` has a proxy of its own so only the long-poll
 * waits longer for response headers; a stuck push still times out after UPSTREAM_TIMEOUT_MS.
 * Only these prefixes are routed: services' own /health, /ready, /metrics and auth's
 * /.well-known/jwks.json lie outside them and are never reachable through the gateway.
 */
export function upstreams(config: Config): Upstream[] {
  const base = config.UPSTREAM_TIMEOUT_MS;
  const connections = config.UPSTREAM_CONNECTIONS;
  return [
    { name: 'auth', prefix: '/auth', url: config.AUTH_URL, headersTimeoutMs: base, connections },
    { name: 'sync', prefix: '/sync', url: config.SYNC_URL, headersTimeoutMs: base, connections },
    {
      name: 'sync',
      prefix: LONG_POLL_PREFIX,
      url: config.SYNC_URL,
      headersTimeoutMs: base + LONG_POLL_EXTRA_MS,
      // Every waiting pull holds a connection: a small pool would queue pulls behind it.
      connections: config.UPSTREAM_LONG_POLL_CONNECTIONS,
    },
    {
      name: 'attachments',
      prefix: '/attachments',
      url: config.ATTACHMENTS_URL,
      headersTimeoutMs: base,
      connections,
    },
    {
      name: 'attachments',
      prefix: '/storage',
      url: config.ATTACHMENTS_URL,
      headersTimeoutMs: base,
      connections,
    },
  ];
}

/** W3C trace context: the undici instrumentation sends the gateway's own when tracing is on. */
const TRACE_CONTEXT_HEADER = /^(traceparent|tracestate)$/i;

/**
 * The request headers an upstream gets: the client's, less identity claims, plus ours. With
 * `ownTraceContext` (tracing on) the client's traceparent/tracestate are left out too: the
 * gateway's proxy span sends its own, and a second traceparent would split the trace.
 */
export function upstreamHeaders(
  request: Pick<FastifyRequest, 'id' | 'ip' | 'protocol' | 'auth'>,
  headers: Record<string, unknown>,
  ownTraceContext = false,
) {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (ownTraceContext && TRACE_CONTEXT_HEADER.test(name)) continue;
    if (!IDENTITY_HEADER.test(name) && name !== 'x-forwarded-for' && name !== 'x-request-id')
      out[name] = value;
  }
  out['x-request-id'] = request.id;
  out['x-forwarded-for'] = request.ip;
  out['x-forwarded-proto'] = request.protocol;
  if (request.auth) {
    // Informational (for the upstream's logs): upstreams trust only the bearer token they verify.
    out['x-journal-user-id'] = request.auth.userId;
  }
  return out;
}

/** Maps a failed upstream call to 502/503/504 `upstream_unavailable`, never a 500 or a hang. */
export function upstreamProblem(error: Error, upstream: string) {
  const code = (error as { code?: string }).code ?? '';
  const causeCode = (error.cause as { code?: string } | undefined)?.code ?? '';
  const refused = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH/.test(
    `${code} ${causeCode} ${error.message}`,
  );
  if (refused || code === 'FST_REPLY_FROM_SERVICE_UNAVAILABLE') {
    return new ProblemError('upstream_unavailable', `the ${upstream} service is unavailable`, {
      status: 503,
      headers: { 'retry-after': '1' },
    });
  }
  if (/TIMEOUT/i.test(code) || /TIMEOUT/i.test(causeCode)) {
    return new ProblemError(
      'upstream_unavailable',
      `the ${upstream} service did not answer in time`,
      {
        status: 504,
      },
    );
  }
  return new ProblemError('upstream_unavailable', `the ${upstream} service failed to answer`, {
    status: 502,
  });
}

/** One @fastify/http-proxy per path prefix, with pooled keep-alive connections and streaming bodies. */
export async function registerUpstreams(
  app: FastifyInstance,
  config: Config,
  metrics: GatewayMetrics,
  matcher: OperationMatcher,
) {
  const latency = metrics.upstreamLatency;
  const longPolls = metrics.longPollsInFlight;
  // At most LONG_POLL_MAX_PER_USER held per user and LONG_POLL_MAX_PER_GATEWAY in all.
  if (config.LONG_POLL_MAX_PER_GATEWAY >= config.UPSTREAM_LONG_POLL_CONNECTIONS) {
    app.log.warn(
      'LONG_POLL_MAX_PER_GATEWAY is not below UPSTREAM_LONG_POLL_CONNECTIONS: pulls may queue behind held long-polls',
    );
  }
  const limiter = createLongPollLimiter({
    perUser: config.LONG_POLL_MAX_PER_USER,
    perGateway: config.LONG_POLL_MAX_PER_GATEWAY,
    answeredEarly: metrics.longPollsAnsweredEarly,
  });

  const tracing = tracingConfigured();
  for (const upstream of upstreams(config)) {
    const fallback = `${upstream.prefix}/*`;
    const isLongPoll = upstream.prefix === LONG_POLL_PREFIX;
    const undiciOptions = {
      connections: upstream.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      connectTimeout: config.UPSTREAM_TIMEOUT_MS,
      headersTimeout: upstream.headersTimeoutMs,
      // Between two chunks, not in total: a long download or upload is never cut.
      bodyTimeout: config.UPSTREAM_TIMEOUT_MS + LONG_POLL_EXTRA_MS,
    };
    await app.register(async (scope) => {
      // The long-poll's own dispatcher: a long-poll answered early ends its call to sync.
      const dispatcher = isLongPoll ? limiter.dispatcher(upstream.url, undiciOptions) : undefined;
      if (isLongPoll) {
        scope.addHook('onRequest', async (_request, reply) => {
          longPolls.inc();
          // 'close' comes once however the call ends: answered, failed or the client gone.
          reply.raw.once('close', () => longPolls.dec());
        });
        scope.addHook('preHandler', limiter.hold);
        scope.addHook('onClose', async () => {
          await dispatcher?.destroy();
        });
      }
      scope.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
        latency.observe(
          {
            upstream: upstream.name,
            route: matcher.forRequest(request).route ?? `${request.method} ${fallback}`,
            status_code: String(reply.statusCode),
          },
          reply.elapsedTime / 1000,
        );
      });
      await scope.register(proxy, {
        upstream: upstream.url,
        prefix: upstream.prefix,
        rewritePrefix: upstream.prefix,
        // One line per request comes from the shared http plugin; none from reply-from.
        disableRequestLogging: true,
        // Bodies are never parsed here (http-proxy's pass-through parsers): they stream upstream.
        undici: (dispatcher ?? undiciOptions) as never,
        replyOptions: {
          rewriteRequestHeaders: (request, headers) =>
            limiter.tagHeaders(
              request as unknown as FastifyRequest,
              upstreamHeaders(
                request as unknown as FastifyRequest,
                headers as Record<string, unknown>,
                tracing,
              ),
            ) as typeof headers,
          // reply-from would retry a GET answered 503 up to 10 times (honouring Retry-After):
          // an upstream's 503 (storage_not_configured, its Redis down) goes to the client as is.
          retryDelay: () => null,
          onError: (reply, { error }) => {
            reply.request.log.warn(
              { err: error.message, upstream: upstream.name },
              'upstream call failed',
            );
            sendProblem(reply as FastifyReply, upstreamProblem(error as Error, upstream.name));
          },
        },
      });
    });
  }
}
