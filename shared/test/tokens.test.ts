import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signTestToken, TEST_AUDIENCE, TEST_ISSUER, testKeys } from '../../test-support/index.js';
import { ProblemError } from '../src/errors.js';
import {
  bearerToken,
  cachedTokenVerifier,
  createTokenVerifier,
  parseJwks,
  type VerifiedToken,
} from '../src/tokens.js';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function setup() {
  const keys = await testKeys('k1');
  const verify = createTokenVerifier({
    publicKeys: keys.jwks,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
  });
  return { keys, verify };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (err instanceof ProblemError) return err.code;
    throw err;
  }
}

describe('access token verification', () => {
  it('accepts a good token and returns user and session', async () => {
    const { keys, verify } = await setup();
    const token = await signTestToken(keys, { sub: 'u1', sid: 's1' });
    expect(await verify(token)).toMatchObject({ userId: 'u1', sessionId: 's1' });
  });

  it('refuses expired, tampered, alg none, HS256-with-public-key, wrong kid, iss and aud', async () => {
    const { keys, verify } = await setup();
    const good = await signTestToken(keys, { sub: 'u1' });
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());

    expect(await codeOf(verify(await signTestToken(keys, { sub: 'u1', expiresIn: -10 })))).toBe(
      'token_expired',
    );
    expect(await codeOf(verify(`${header}.${b64({ ...claims, sub: 'admin' })}.${signature}`))).toBe(
      'unauthorized',
    );
    expect(await codeOf(verify(`${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`))).toBe(
      'unauthorized',
    );
    const hsHeader = b64({ alg: 'HS256', kid: 'k1', typ: 'JWT' });
    const hsSig = createHmac('sha256', JSON.stringify(keys.publicJwk))
      .update(`${hsHeader}.${payload}`)
      .digest('base64url');
    expect(await codeOf(verify(`${hsHeader}.${payload}.${hsSig}`))).toBe('unauthorized');
    const other = await testKeys('k2');
    expect(await codeOf(verify(await signTestToken(other, { sub: 'u1' })))).toBe('unauthorized');
    expect(await codeOf(verify(await signTestToken(keys, { sub: 'u1', iss: 'evil' })))).toBe(
      'unauthorized',
    );
    expect(await codeOf(verify(await signTestToken(keys, { sub: 'u1', aud: 'other' })))).toBe(
      'unauthorized',
    );
    expect(await codeOf(verify('garbage'))).toBe('unauthorized');
  });

  it('trusts several keys at once so keys can rotate', async () => {
    const a = await testKeys('a');
    const b = await testKeys('b');
    const verify = createTokenVerifier({
      publicKeys: JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }),
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
    });
    expect((await verify(await signTestToken(a, { sub: 'x' }))).userId).toBe('x');
    expect((await verify(await signTestToken(b, { sub: 'y' }))).userId).toBe('y');
  });

  it('refuses private keys and keys without kid in JWT_PUBLIC_KEYS', () => {
    expect(() =>
      parseJwks('{"keys":[{"kty":"OKP","crv":"Ed25519","x":"a","d":"b","kid":"k"}]}'),
    ).toThrow(/public keys only/);
    expect(() => parseJwks('{"keys":[{"kty":"OKP","crv":"Ed25519","x":"a"}]}')).toThrow(/kid/);
    expect(() => parseJwks('nope')).toThrow(/not valid JSON/);
  });

  it('parses bearer headers strictly', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(() => bearerToken(undefined)).toThrow(ProblemError);
    expect(() => bearerToken('Basic xyz')).toThrow(ProblemError);
    expect(() => bearerToken('Bearer a b')).toThrow(ProblemError);
  });
});

describe('cached token verification', () => {
  const counting = (result: (token: string) => VerifiedToken | Error) => {
    const calls: string[] = [];
    const verify = async (token: string) => {
      calls.push(token);
      const r = result(token);
      if (r instanceof Error) throw r;
      return r;
    };
    return { calls, verify };
  };
  const valid = (expiresAt: number): VerifiedToken => ({
    userId: 'u',
    sessionId: 's',
    issuedAt: expiresAt - 60,
    expiresAt,
  });

  it('checks a good token once, and refuses it from the cache once it expires', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const { calls, verify } = counting(() => valid(expiresAt));
    const cached = cachedTokenVerifier(verify);
    expect((await cached('t')).userId).toBe('u');
    expect((await cached('t')).userId).toBe('u');
    expect(calls).toEqual(['t']);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await codeOf(cached('t'))).toBe('token_expired');
  });

  it('never caches a refusal, and turns a key-fetch failure into a retryable 503', async () => {
    const { calls, verify } = counting((t) =>
      t === 'bad' ? new ProblemError('unauthorized', 'invalid') : new Error('JWKS fetch failed'),
    );
    const cached = cachedTokenVerifier(verify);
    expect(await codeOf(cached('bad'))).toBe('unauthorized');
    expect(await codeOf(cached('bad'))).toBe('unauthorized');
    expect(calls).toEqual(['bad', 'bad']);
    const err = await cached('other').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProblemError);
    expect((err as ProblemError).statusCode).toBe(503);
    expect((err as ProblemError).code).toBe('upstream_unavailable');
  });

  it('keeps at most maxEntries tokens, evicting the least recently used', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 600;
    const { calls, verify } = counting(() => valid(expiresAt));
    const cached = cachedTokenVerifier(verify, 2);
    await cached('a');
    await cached('b');
    await cached('a'); // a is now the most recently used
    await cached('c'); // evicts b
    await cached('a');
    await cached('b');
    expect(calls).toEqual(['a', 'b', 'c', 'b']);
  });
});
