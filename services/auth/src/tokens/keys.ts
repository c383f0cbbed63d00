import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Logger } from '@journal/shared';
import { parseJwks } from '@journal/shared';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import type { Config } from '../config.js';

export interface SigningKeys {
  /** `kid` put in every access token's header. */
  kid: string;
  privateKey: KeyObject;
  /** Public keys trusted for access tokens: the signing key's first, then JWT_PUBLIC_KEYS. */
  publicJwks: JWK[];
  /** Key lookup for jose's jwtVerify over `publicJwks`. */
  getKey: JWTVerifyGetKey;
}

function publicJwkOf(privateKey: KeyObject, kid: string): JWK {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: 'EdDSA', use: 'sig' } as JWK;
}

/**
 * The signing key from JWT_PRIVATE_KEY (PKCS#8 PEM or private JWK), or, outside production
 * (the config refuses production without one), an ephemeral key made now with a warning:
 * its tokens die with the process.
 *
 * Rotation: start signing with a new key while the old public key stays in JWT_PUBLIC_KEYS;
 * tokens signed by either verify, so no one is logged out. Drop the old key after the access
 * token lifetime.
 */
export async function loadSigningKeys(config: Config, logger: Logger): Promise<SigningKeys> {
  let privateKey: KeyObject;
  let kid: string;
  if (config.JWT_PRIVATE_KEY) {
    const text = config.JWT_PRIVATE_KEY;
    const isJwk = text.trimStart().startsWith('{');
    const jwk = isJwk ? (JSON.parse(text) as JWK) : undefined;
    privateKey = jwk
      ? createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })
      : createPrivateKey(text);
    kid =
      config.JWT_KEY_ID ??
      (typeof jwk?.kid === 'string' ? jwk.kid : undefined) ??
      (await calculateJwkThumbprint(publicJwkOf(privateKey, '')));
  } else {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(pair.privateKey);
    privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    kid = config.JWT_KEY_ID ?? `ephemeral-${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`;
    logger.warn(
      { kid },
      'JWT_PRIVATE_KEY is not set: signing with an ephemeral key; tokens stop working when this process ends',
    );
  }

  const own = publicJwkOf(privateKey, kid);
  const extra = config.JWT_PUBLIC_KEYS
    ? (parseJwks(config.JWT_PUBLIC_KEYS).keys as JWK[]).filter((k) => k.kid !== kid)
    : [];
  const publicJwks = [own, ...extra];
  return {
    kid,
    privateKey,
    publicJwks,
    getKey: createLocalJWKSet({ keys: publicJwks }),
  };
}
