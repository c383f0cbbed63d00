import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';

export interface DevKeys {
  /** JWT_KEY_ID */
  kid: string;
  /** JWT_PRIVATE_KEY (PKCS#8 PEM, Ed25519) */
  privateKeyPem: string;
  /** JWT_PUBLIC_KEYS (JWKS JSON) */
  jwks: string;
}

/** A fresh Ed25519 signing key with its public JWKS. */
export async function generateSigningKey(kid: string): Promise<DevKeys> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return {
    kid,
    privateKeyPem: await exportPKCS8(privateKey),
    jwks: JSON.stringify({ keys: [jwk] }),
  };
}

/** Development keys, made on first run and kept (git-ignored) so sessions survive restarts. */
export async function loadOrCreateDevKeys(file: string): Promise<DevKeys> {
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as DevKeys;
  const keys = await generateSigningKey(`dev-${new Date().toISOString().slice(0, 10)}`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
  return keys;
}
