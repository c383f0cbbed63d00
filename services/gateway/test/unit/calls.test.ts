import { AUTH_LIMITS, SYNC_LIMITS } from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { createPublicCallMatcher } from '../../src/auth/guard.js';
import { bodyLimitFor } from '../../src/proxy/body-limits.js';
import { upstreamProblem } from '../../src/proxy/upstreams.js';

describe('public calls', () => {
  const isPublic = createPublicCallMatcher();

  it.each([
    ['POST', '/auth/register'],
    ['POST', '/auth/login'],
    ['POST', '/auth/refresh'],
    ['POST', '/storage/qiniu/callback'],
    ['POST', '/auth/login?x=1'],
  ])('%s %s is public', (method, url) => {
    expect(isPublic(method, url)).toBe(true);
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
  ])('%s %s needs a session', (method, url) => {
    expect(isPublic(method, url)).toBe(false);
  });
});

describe('body limits', () => {
  const attachments = 5 * 1024 * 1024;
  it.each([
    ['POST', '/auth/login', AUTH_LIMITS.maxBodyBytes],
    ['POST', '/auth/register', AUTH_LIMITS.maxBodyBytes],
    ['POST', '/sync/push', SYNC_LIMITS.maxPushBytes],
    ['PUT', '/attachments/a1', attachments],
    ['POST', '/storage/qiniu/callback', 64 * 1024],
    ['GET', '/sync/changes', 1024 * 1024],
    ['DELETE', '/attachments/a1', 1024 * 1024],
  ])('%s %s accepts at most %i bytes', (method, path, limit) => {
    expect(bodyLimitFor(method, path, attachments)).toBe(limit);
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
