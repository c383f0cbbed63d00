import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { codeForStatus, type FieldError, ProblemError } from './errors.js';
import { hasWriteConcernError } from './storage.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps the client's `x-request-id` when it is sane, otherwise makes a new one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && SANE_REQUEST_ID.test(value) ? value : randomUUID();
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's user id once authenticated; logged on the request's line. */
    userId?: string;
  }
}

export function sendProblem(reply: FastifyReply, error: ProblemError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  return reply
    .code(error.statusCode)
    .type('application/problem+json')
    .send(error.toProblem(reply.request.url.split('?')[0]));
}

interface ValidationItem {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function fieldErrors(error: FastifyError): FieldError[] {
  const context = (error as FastifyError & { validationContext?: string }).validationContext;
  const prefix = context && context !== 'body' ? context : '';
  return ((error.validation ?? []) as ValidationItem[]).map((item) => {
    const path = (item.instancePath ?? '').split('/').filter(Boolean).join('.');
    return {
      path: [prefix, path].filter(Boolean).join('.') || prefix || '(root)',
      message: item.message ?? 'is invalid',
    };
  });
}

const DEPENDENCY_ERRORS = new Set([
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  // The write may be rolled back (no majority acknowledged it): retry, never take it as done.
  'MongoWriteConcernError',
  'MaxRetriesPerRequestError',
]);

/**
 * Redis answers and ioredis errors of a failover in progress (Sentinel promoting a replica,
 * a Cluster moving slots): transient, so 503 and retry, like an unreachable server. `MOVED` and
 * `ASK` reach the caller when an auto-pipeline mixed slots that moved: ioredis retries a
 * pipeline's redirection only when every reply in it is the same one.
 */
const REDIS_TRANSIENT =
  /^(READONLY|LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MOVED|ASK) |^Command timed out|^Reached the max retries per request limit|^Failed to refresh slots cache|^Cluster isn't ready|^Cluster is disconnect|^Node is disconnected|^Too many Cluster redirections|^Socket timeout|^None of startup nodes is available|^All sentinels are unreachable|^connect ETIMEDOUT|^(read|write) (ECONNRESET|EPIPE)|Stream isn't writeable/;

/**
 * True for errors that mean MongoDB or Redis is unreachable right now (not a bug): the
 * request is answered 503 so clients and load balancers retry instead of reporting a fault.
 */
export function isDependencyUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (DEPENDENCY_ERRORS.has(error.name)) return true;
  if (hasWriteConcernError(error)) return true;
  const message = error.message;
  return (
    message.includes('enableOfflineQueue options is false') ||
    message === 'Connection is closed.' ||
    /^connect ECONNREFUSED/.test(message) ||
    message.includes('Redis not reachable') ||
    message.includes('MaxRetriesPerRequestError') ||
    REDIS_TRANSIENT.test(message)
  );
}

/** Maps any error thrown in a request to a problem document. */
export function toProblemError(error: FastifyError | Error): ProblemError {
  if (error instanceof ProblemError) return error;
  const fe = error as FastifyError;
  if (fe.validation) {
    const errors = fieldErrors(fe);
    return new ProblemError(
      'validation_failed',
      `invalid request: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`.slice(0, 500),
      { errors },
    );
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemError('invalid_json', 'the request body is not valid JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError('payload_too_large', 'the request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError('unsupported_media_type', 'unsupported content type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ProblemError('validation_failed', 'content-length does not match the body');
  }
  // secure-json-parse refuses __proto__ / constructor.prototype keys with a SyntaxError.
  if (error instanceof SyntaxError && fe.statusCode === 400) {
    return new ProblemError('invalid_json', 'the request body is not valid JSON');
  }
  const status = fe.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Fastify's own client errors (bad URL encoding, etc.): keep their status, generic detail.
    return new ProblemError(codeForStatus(status), fe.message.slice(0, 200), { status });
  }
  if (isDependencyUnavailable(error)) {
    return new ProblemError(
      'upstream_unavailable',
      'a storage dependency is unavailable; retry shortly',
      {
        status: 503,
        headers: { 'retry-after': '1' },
        cause: error,
      },
    );
  }
  return new ProblemError('internal', 'internal server error', { cause: error });
}

/**
 * Request ids, one log line per request, and RFC 9457 problem documents for every error and
 * unknown route. Every service (and the gateway) registers this first.
 */
export const httpPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onRequest', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });

    app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      const level = reply.statusCode >= 500 ? 'error' : 'info';
      request.log[level](
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          url: request.url.split('?')[0],
          statusCode: reply.statusCode,
          durationMs: Math.round(reply.elapsedTime * 100) / 100,
          userId: request.userId,
        },
        'request completed',
      );
    });

    app.setErrorHandler((error: FastifyError, request, reply) => {
      const problem = toProblemError(error);
      if (problem.statusCode >= 500) {
        request.log.error({ err: error, code: problem.code }, 'request failed');
      }
      return sendProblem(reply, problem);
    });

    app.setNotFoundHandler((request, reply) => {
      return sendProblem(
        reply,
        new ProblemError(
          'not_found',
          `no route for ${request.method} ${request.url.split('?')[0]}`.slice(0, 300),
        ),
      );
    });
  },
  { name: 'journal-http', fastify: '5.x' },
);
