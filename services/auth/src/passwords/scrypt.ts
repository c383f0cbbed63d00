import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashes in a self-describing format that carries its parameters, so the cost can be
 * raised later and old hashes still verify (and get rehashed at the next login):
 *
 *   scrypt$ln=17,r=8,p=1$<salt, base64>$<hash, base64>
 *
 * `ln` is log2(N). Salt 16 bytes, hash 32 bytes, both from node:crypto's async scrypt so the
 * event loop never blocks.
 */

export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const FORMAT =
  /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export function scryptParams(logN: number): ScryptParams {
  return { logN, r: 8, p: 1 };
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number) {
  const N = 2 ** params.logN;
  const options: ScryptOptions = {
    N,
    r: params.r,
    p: params.p,
    // scrypt needs about 128·N·r·p bytes; leave headroom over that.
    maxmem: 256 * N * params.r * params.p + 16 * 1024 * 1024,
  };
  return new Promise<Buffer>((resolve, reject) => {
    // NFKC so the same password typed on different keyboards/platforms hashes the same.
    scrypt(password.normalize('NFKC'), salt, length, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, HASH_BYTES);
  return `scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function parseHash(stored: string) {
  const m = FORMAT.exec(stored);
  if (!m) return undefined;
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.logN < 1 || params.logN > 24 || params.r < 1 || params.p < 1) return undefined;
  return {
    params,
    salt: Buffer.from(m[4] as string, 'base64'),
    hash: Buffer.from(m[5] as string, 'base64'),
  };
}

/**
 * Checks `password` against `stored` in constant time. `needsRehash` says the stored hash was
 * made with weaker parameters than `current`.
 */
export async function verifyPassword(
  password: string,
  stored: string,
  current: ScryptParams,
): Promise<{ ok: boolean; needsRehash: boolean }> {
  const parsed = parseHash(stored);
  if (!parsed || parsed.hash.length === 0) return { ok: false, needsRehash: false };
  const candidate = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  const ok = timingSafeEqual(candidate, parsed.hash);
  // Only ever upgrade: a hash stronger than the current setting is kept.
  const needsRehash =
    parsed.params.logN < current.logN ||
    parsed.params.r < current.r ||
    parsed.params.p < current.p ||
    parsed.hash.length < HASH_BYTES;
  return { ok, needsRehash };
}
