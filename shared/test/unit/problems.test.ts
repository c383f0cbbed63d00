import type { FastifyError } from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  codeForStatus,
  PROBLEM_TYPE_BASE,
  ProblemError,
  problemCodes,
  problemDocument,
} from '../../src/errors.js';
import { isDependencyUnavailable, toProblemError } from '../../src/http.js';

const fastifyError = (props: Partial<FastifyError> & { validationContext?: string }) =>
  Object.assign(new Error(props.message ?? 'boom'), props) as FastifyError;

describe('problem documents', () => {
  it.each(Object.entries(problemCodes))('%s has its status, title and type', (code, meta) => {
    const doc = problemDocument(code as keyof typeof problemCodes, 'why');
    expect(doc).toEqual({
      type: PROBLEM_TYPE_BASE + code,
      title: meta.title,
      status: meta.status,
      detail: 'why',
      code,
    });
  });

  it('keeps extensions beside, never over, the standard members', () => {
    const doc = new ProblemError('not_ready', 'x', {
      extensions: { checks: { redis: 'failed' }, code: 'forged', status: 200 },
    }).toProblem('/ready');
    expect(doc).toMatchObject({ code: 'not_ready', status: 503, instance: '/ready' });
    expect(doc.checks).toEqual({ redis: 'failed' });
  });
});

describe('status → code', () => {
  it.each([
    [400, 'validation_failed'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [405, 'method_not_allowed'],
    [409, 'conflict'],
    [410, 'resync_required'],
    [412, 'precondition_failed'],
    [413, 'payload_too_large'],
    [414, 'validation_failed'],
    [415, 'unsupported_media_type'],
    [416, 'range_not_satisfiable'],
    [429, 'rate_limited'],
    [500, 'internal'],
    [502, 'upstream_unavailable'],
    [503, 'upstream_unavailable'],
    [504, 'upstream_unavailable'],
  ])('%i → %s', (status, code) => {
    expect(codeForStatus(status)).toBe(code);
  });
});

describe('errors → problems', () => {
  it.each([
    ['FST_ERR_CTP_INVALID_JSON_BODY', 400, 'invalid_json'],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 400, 'invalid_json'],
    ['FST_ERR_CTP_BODY_TOO_LARGE', 413, 'payload_too_large'],
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 415, 'unsupported_media_type'],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400, 'validation_failed'],
  ])('fastify %s → %i %s', (code, status, problem) => {
    const mapped = toProblemError(fastifyError({ code, statusCode: status }));
    expect([mapped.statusCode, mapped.code]).toEqual([status, problem]);
  });

  it('names each invalid field, prefixed by where it was', () => {
    const mapped = toProblemError(
      fastifyError({
        validation: [
          { instancePath: '/entries/0/id', message: 'must match' } as never,
          { instancePath: '', message: 'is required' } as never,
        ],
        validationContext: 'querystring',
      }),
    );
    expect(mapped.code).toBe('validation_failed');
    expect(mapped.errors).toEqual([
      { path: 'querystring.entries.0.id', message: 'must match' },
      { path: 'querystring', message: 'is required' },
    ]);
  });

  it('answers a prototype-pollution SyntaxError as invalid_json', () => {
    const err = Object.assign(new SyntaxError('Object contains forbidden prototype property'), {
      statusCode: 400,
    });
    expect(toProblemError(err).code).toBe('invalid_json');
  });

  it('keeps the status of fastify client errors, with a generic code', () => {
    const mapped = toProblemError(fastifyError({ code: 'FST_X', statusCode: 414 }));
    expect([mapped.statusCode, mapped.code]).toEqual([414, 'validation_failed']);
  });

  it.each([
    Object.assign(new Error('x'), { name: 'MongoServerSelectionError' }),
    Object.assign(new Error('x'), { name: 'MongoNetworkError' }),
    Object.assign(new Error('x'), { name: 'MongoPoolClearedError' }),
    new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    new Error('Connection is closed.'),
    new Error('connect ECONNREFUSED 127.0.0.1:6379'),
  ])('answers an unreachable store (%s) 503 with Retry-After', (err) => {
    expect(isDependencyUnavailable(err)).toBe(true);
    const mapped = toProblemError(err);
    expect([mapped.statusCode, mapped.code, mapped.headers]).toEqual([
      503,
      'upstream_unavailable',
      { 'retry-after': '1' },
    ]);
  });

  it('hides anything else behind 500 internal, keeping the cause for the log', () => {
    const err = new TypeError('secret internals');
    const mapped = toProblemError(err);
    expect([mapped.statusCode, mapped.code, mapped.message]).toEqual([
      500,
      'internal',
      'internal server error',
    ]);
    expect(mapped.cause).toBe(err);
    expect(isDependencyUnavailable('not an error')).toBe(false);
  });
});
