/**
 * A fresh Ed25519 JWT signing key for a deployment, printed in the form the deployment takes.
 *
 *   npx tsx scripts/gen-keys.ts                 # .env lines (docker compose): JWT_PRIVATE_KEY,
 *                                               # JWT_KEY_ID, JWT_PUBLIC_KEYS
 *   npx tsx scripts/gen-keys.ts --helm          # a values file for the Helm chart (jwt.*)
 *   npx tsx scripts/gen-keys.ts --kid prod-2026-01 --keep-public '<old JWKS>'
 *
 * --keep-public adds the keys of an existing JWKS to JWT_PUBLIC_KEYS, for a rotation: tokens
 * signed with the old key stay valid until they expire (docs/operations.md, "Secrets").
 */
import { createPrivateKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { generateSigningKey } from './lib/keys.js';

const { values } = parseArgs({
  options: {
    kid: { type: 'string' },
    helm: { type: 'boolean', default: false },
    'keep-public': { type: 'string' },
  },
});

const kid = values.kid ?? `journal-${new Date().toISOString().slice(0, 10)}`;
const key = await generateSigningKey(kid);
const jwks = JSON.parse(key.jwks) as { keys: { kid?: string }[] };
if (values['keep-public']) {
  const old = JSON.parse(values['keep-public']) as { keys?: { kid?: string }[] };
  for (const k of old.keys ?? []) if (k.kid !== kid) jwks.keys.push(k);
}
const publicKeys = JSON.stringify(jwks);

if (values.helm) {
  const indent = (text: string) =>
    text
      .trimEnd()
      .split('\n')
      .map((line) => `    ${line}`)
      .join('\n');
  process.stdout.write(
    [
      '# helm install journal deploy/helm/journal -f <this file> ... (keep it out of git)',
      'jwt:',
      '  privateKey: |',
      indent(key.privateKeyPem),
      `  keyId: ${JSON.stringify(kid)}`,
      `  publicKeys: ${JSON.stringify(publicKeys)}`,
      '',
    ].join('\n'),
  );
} else {
  // One line each: the private key as a JWK (JSON), which auth accepts like the PEM, so the
  // value needs no multi-line quoting in an .env file.
  const privateJwk = {
    ...createPrivateKey(key.privateKeyPem).export({ format: 'jwk' }),
    kid,
    alg: 'EdDSA',
    use: 'sig',
  };
  process.stdout.write(
    [
      `JWT_PRIVATE_KEY='${JSON.stringify(privateJwk)}'`,
      `JWT_KEY_ID=${kid}`,
      `JWT_PUBLIC_KEYS='${publicKeys}'`,
      '',
    ].join('\n'),
  );
}
