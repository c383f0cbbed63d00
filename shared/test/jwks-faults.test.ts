import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signTestToken, TEST_AUDIENCE, TEST_ISSUER, testKeys } from '../../test-support/index.js';
import { ProblemError } from '../src/errors.js';
import { DependencyError, dependencyFailures } from '../src/outside-faults.js';
import { cachedTokenVerifier, createTokenVerifier } from '../src/tokens.js';

/**
 * A JWKS URL that answers, but not a key set (a 5xx, HTML from a captive portal, JSON that is
 * not a JWKS): the token could not be checked, so the answer is a retryable 503, never a 401
 * that tells a client its good token is bad. Each is counted as a failure of `jwks`.
 */

let server: Server;
let base: string;
let jwks: string;

beforeAll(async () => {
  jwks = (await testKeys('jwks-faults')).jwks;
  server = createServer((req, res) => {
    req.resume();
    if (req.url === '/503') res.writeHead(503).end('{"error":"down"}');
    else if (req.url === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
    else if (req.url === '/not-a-jwks')
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"no"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function jwksFailures(): Promise<number> {
  const metric = await dependencyFailures.get();
  return metric.values.find((v) => v.labels.dependency === 'jwks')?.value ?? 0;
}

describe('JWKS URL failures', () => {
  it.for(['/503', '/html', '/not-a-jwks'])(
    '%s: a DependencyError, counted, and a 503 with Retry-After through the cache',
    async (path) => {
      const keys = await testKeys('jwks-faults');
      const token = await signTestToken(keys, { sub: 'u1' });
      const options = { jwksUrl: `${base}${path}`, issuer: TEST_ISSUER, audience: TEST_AUDIENCE };
      const before = await jwksFailures();
      await expect(createTokenVerifier(options)(token)).rejects.toBeInstanceOf(DependencyError);
      expect(await jwksFailures()).toBe(before + 1);
      const err = await cachedTokenVerifier(createTokenVerifier(options))(token).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProblemError);
      expect((err as ProblemError).statusCode).toBe(503);
      expect((err as ProblemError).headers['retry-after']).toBe('5');
    },
  );

  it('a good JWKS that lacks the token’s key is the token’s fault: 401, not counted', async () => {
    const other = await testKeys('another-key');
    const token = await signTestToken(other, { sub: 'u1' });
    const before = await jwksFailures();
    const verify = createTokenVerifier({
      jwksUrl: `${base}/.well-known/jwks.json`,
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
    });
    const err = await verify(token).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).code).toBe('unauthorized');
    expect(await jwksFailures()).toBe(before);
  });
});
