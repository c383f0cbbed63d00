import {
  AUTH_LIMITS,
  allOperations,
  DEFAULT_BODY_LIMIT_BYTES,
  LONG_POLL_EXTRA_MS,
  type Operation,
  STORAGE_LIMITS,
  SYNC_LIMITS,
} from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { createOperationMatcher } from '../../src/operations.js';
import { upstreamProblem } from '../../src/proxy/upstreams.js';

const attachments = 5 * 1024 * 1024;
const matcher = createOperationMatcher({ configuredMaxBytes: attachments });

describe('public calls', () => {
  it.each([
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['POST', '/auth/refresh'],
    ['POST', '/storage/qiniu/callback'],
    ['POST', '/auth/login?x=1'],
  ])('%s %s is public', (method, url) => {
    expect(matcher.match(method, url).public).toBe(true);
  });

  it.each([
    ['GET', '/auth/login'],
    ['GET', '/auth/me'],
    ['POST', '/auth/logout'],
    ['GET', '/sync/changes'],
    ['POST', '/sync/push'],
    ['GET', '/attachments'],
    ['PUT', '/attachments/a1'],
    ['HEAD', '/attachments/a1'],
    ['GET', '/storage/qiniu/token'],
    ['GET', '/sync/no-such-path'],
    ['GET', '/auth/admin/secret'],
    ['POST', '/auth/login/'],
    ['POST', '/auth/login/../me'],
    ['POST', '/AUTH/LOGIN'],
    ['POST', '/storage/qiniu/callback/x'],
    ['POST', '/auth/login%00'],
  ])('%s %s needs a session', (method, url) => {
    expect(matcher.match(method, url).public).toBe(false);
  });

  it('follows the table: exactly the operations marked auth: false are public', () => {
    for (const op of allOperations) {
      const url = op.path.replace(/:[A-Za-z0-9_]+/g, 'x1');
      expect(matcher.match(op.method, url).public, `${op.method} ${op.path}`).toBe(!op.auth);
    }
  });
});

describe('route labels', () => {
  it.each([
    ['GET', '/attachments/a1?x=1', 'GET /attachments/:id'],
    ['PUT', '/attachments/other-id', 'PUT /attachments/:id'],
    ['GET', '/sync/changes?since=5', 'GET /sync/changes'],
    ['POST', '/auth/login', 'POST /auth/login'],
  ])('%s %s is labelled %s', (method, url, route) => {
    expect(matcher.match(method, url).route).toBe(route);
  });

  it.each([
    ['GET', '/attachments/a/b'],
    ['GET', '/attachments/'],
    ['POST', '/sync/changes'],
  ])('%s %s has no label of its own (never the raw path)', (method, url) => {
    expect(matcher.match(method, url).route).toBeUndefined();
  });
});

describe('body limits', () => {
  it.each([
    ['POST', '/auth/login', AUTH_LIMITS.maxBodyBytes],
    ['POST', '/auth/register', AUTH_LIMITS.maxBodyBytes],
    ['POST', '/auth/logout', AUTH_LIMITS.maxBodyBytes],
    ['POST', '/auth/unknown', AUTH_LIMITS.maxBodyBytes],
    ['POST', '/sync/push', SYNC_LIMITS.maxPushBytes],
    ['PUT', '/attachments/a1', attachments],
    ['POST', '/storage/qiniu/callback', STORAGE_LIMITS.maxBodyBytes],
    ['POST', '/storage/other', STORAGE_LIMITS.maxBodyBytes],
    ['GET', '/sync/changes', DEFAULT_BODY_LIMIT_BYTES],
    ['POST', '/sync/unknown', DEFAULT_BODY_LIMIT_BYTES],
    ['DELETE', '/attachments/a1', DEFAULT_BODY_LIMIT_BYTES],
    ['POST', '/elsewhere', DEFAULT_BODY_LIMIT_BYTES],
  ])('%s %s accepts at most %i bytes', (method, path, limit) => {
    expect(matcher.match(method, path).bodyLimit).toBe(limit);
  });

  it('gives an unknown path the smallest limit of its section, even with a huge configured one', () => {
    const big = createOperationMatcher({ configuredMaxBytes: 2 ** 40 });
    expect(big.match('PUT', '/attachments/a/b').bodyLimit).toBe(DEFAULT_BODY_LIMIT_BYTES);
    expect(big.match('PUT', '/attachments/a').bodyLimit).toBe(2 ** 40);
  });

  it('reads limits from the table it is given', () => {
    const op: Operation = {
      operationId: 'x',
      method: 'POST',
      path: '/x/:id/y',
      summary: '',
      tags: [],
      auth: false,
      bodyLimit: 7,
      schema: { response: {} },
    };
    const own = createOperationMatcher({ configuredMaxBytes: 1 }, [op]);
    expect(own.match('POST', '/x/1/y')).toMatchObject({ public: true, bodyLimit: 7 });
    expect(own.match('POST', '/x/1/y').route).toBe('POST /x/:id/y');
    expect(own.match('POST', '/x/1/z').public).toBe(false);
  });
});

describe('long-polls', () => {
  it('get the longest wait of the contract plus headroom', () => {
    expect(LONG_POLL_EXTRA_MS).toBe(SYNC_LIMITS.maxWaitSeconds * 1000 + 5_000);
  });
});

describe('upstream failures', () => {
  const withCode = (code: string, cause?: string) =>
    Object.assign(new Error(code), { code, ...(cause ? { cause: { code: cause } } : {}) });
  it.each([
    [withCode('ECONNREFUSED'), 503],
    [withCode('X', 'ENOTFOUND'), 503],
    [withCode('FST_REPLY_FROM_SERVICE_UNAVAILABLE'), 503],
    [withCode('UND_ERR_HEADERS_TIMEOUT'), 504],
    [withCode('X', 'UND_ERR_CONNECT_TIMEOUT'), 504],
    [withCode('UND_ERR_SOCKET'), 502],
    [new Error('other side closed'), 502],
  ])('%s answers %i upstream_unavailable', (error, status) => {
    const problem = upstreamProblem(error, 'sync');
    expect([problem.statusCode, problem.code]).toEqual([status, 'upstream_unavailable']);
    expect(problem.message).toContain('sync');
    expect(problem.headers['retry-after'] === '1').toBe(status === 503);
  });
});
