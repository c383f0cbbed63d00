import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  TEST_AUDIENCE,
  TEST_ISSUER,
  type TestKeys,
  testKeys,
} from '../../../test-support/index.js';
import { ProblemError } from '../../src/errors.js';
import {
  CLOCK_SKEW_SECONDS,
  createTokenVerifier,
  tokenVerifierFromConfig,
} from '../../src/tokens.js';

/** A validly signed token with any iat/exp: what a leaked key or a buggy issuer could mint. */
function forge(keys: TestKeys, iat: number, exp: number) {
  return new SignJWT({ sid: 's1' })
    .setProtectedHeader({ alg: 'EdDSA', kid: keys.kid, typ: 'JWT' })
    .setSubject('u1')
    .setIssuer(TEST_ISSUER)
    .setAudience(TEST_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(keys.privateKey);
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (err) {
    if (err instanceof ProblemError) return `${err.statusCode} ${err.code}: ${err.message}`;
    throw err;
  }
}

describe('iat and lifetime checks', () => {
  const ttl = 900;
  const now = () => Math.floor(Date.now() / 1000);

  async function setup() {
    const keys = await testKeys('k-life');
    const verify = createTokenVerifier({
      publicKeys: keys.jwks,
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      maxLifetimeSeconds: ttl,
    });
    return { keys, verify };
  }

  it('accepts a token of exactly the configured lifetime, and a small clock skew', async () => {
    const { keys, verify } = await setup();
    expect(await outcome(verify(await forge(keys, now(), now() + ttl)))).toBe('accepted');
    const skewed = now() + CLOCK_SKEW_SECONDS - 5;
    expect(await outcome(verify(await forge(keys, skewed, skewed + ttl)))).toBe('accepted');
  });

  it('refuses a token issued in the future beyond the skew', async () => {
    const { keys, verify } = await setup();
    const future = now() + CLOCK_SKEW_SECONDS + 30;
    expect(await outcome(verify(await forge(keys, future, future + 60)))).toMatch(
      /^401 unauthorized: .*future/,
    );
    // A year ahead, too: such a token would outlive every revocation record.
    const far = now() + 365 * 86_400;
    expect(await outcome(verify(await forge(keys, far, far + 60)))).toMatch(/^401 unauthorized/);
  });

  it('refuses a token that lives longer than the configured lifetime', async () => {
    const { keys, verify } = await setup();
    expect(await outcome(verify(await forge(keys, now(), now() + ttl + 1)))).toMatch(
      /^401 unauthorized: .*longer/,
    );
    // Backdated so that it is "young" by exp, but its lifetime gives it away.
    expect(await outcome(verify(await forge(keys, now() - 86_400, now() + 60)))).toMatch(
      /^401 unauthorized: .*longer/,
    );
    expect(await outcome(verify(await forge(keys, now(), now() + 10 * 365 * 86_400)))).toMatch(
      /^401 unauthorized/,
    );
  });

  it('takes the bound from JWT_ACCESS_TTL_SECONDS in the services’ verifier', async () => {
    const keys = await testKeys('k-life2');
    const verify = tokenVerifierFromConfig({
      JWT_PUBLIC_KEYS: keys.jwks,
      JWT_ISSUER: TEST_ISSUER,
      JWT_AUDIENCE: TEST_AUDIENCE,
      JWT_ACCESS_TTL_SECONDS: 120,
    });
    expect(await outcome(verify(await forge(keys, now(), now() + 120)))).toBe('accepted');
    expect(await outcome(verify(await forge(keys, now(), now() + 121)))).toMatch(/^401/);
    // The refusal is not cached as an acceptance, and an accepted token is not re-checked
    // into a refusal: the same text twice gives the same answer.
    const long = await forge(keys, now(), now() + 3600);
    expect(await outcome(verify(long))).toMatch(/^401/);
    expect(await outcome(verify(long))).toMatch(/^401/);
  });
});
