import type { Auth } from '../auth.js';
import { type BundleMaterial, checkKdfParams, isEnvelope } from '../crypto/index.js';
import { badReply, JournalError } from '../errors.js';
import { errorFromResponse, readJson } from '../http.js';
import { isObject } from '../util.js';

/**
 * The account's key bundle on the server (`GET`/`PUT /auth/encryption`, docs/encryption.md "The
 * key bundle"): wrapped keys and the key-derivation parameters, written compare-and-swap.
 */

export type BundleState = 'migrating' | 'on';

export interface ServerBundle extends BundleMaterial {
  version: number;
  state: BundleState;
  migration: { deviceId: string; leaseExpiresAt: string } | null;
  createdAt: string;
  updatedAt: string;
}

export interface BundleWrite extends BundleMaterial {
  state: BundleState;
  /** A lease for this device (renewed while it migrates); null ends any lease. */
  migration: { deviceId: string; leaseSeconds: number } | null;
}

/** Seconds a migration lease lasts; the migrating device renews it about every 40 s. */
export const LEASE_SECONDS = 120;

function check(ok: boolean, what: string, status: number): void {
  if (!ok) throw badReply(`encryption bundle: ${what}`, status);
}

/**
 * A bundle from the server, checked before anything is derived from it. Its key-derivation
 * parameters below the minimum are refused (`weak_key_params`): a server cannot weaken them.
 */
export function parseBundle(v: unknown, status = 200): ServerBundle {
  check(isObject(v), 'an object', status);
  const b = v as Record<string, unknown>;
  check(Number.isSafeInteger(b.version) && (b.version as number) >= 1, 'version', status);
  check(b.state === 'migrating' || b.state === 'on', 'state', status);
  check(isEnvelope(b.passwordWrappedKey), 'passwordWrappedKey', status);
  check(isEnvelope(b.recoveryWrappedKey), 'recoveryWrappedKey', status);
  check(typeof b.currentKid === 'string', 'currentKid', status);
  const keys = b.contentKeys;
  check(Array.isArray(keys) && keys.length > 0, 'contentKeys', status);
  for (const k of keys as unknown[]) {
    check(
      isObject(k) && typeof k.kid === 'string' && isEnvelope(k.wrapped),
      'contentKeys[]',
      status,
    );
  }
  const m = b.migration;
  check(
    m === null ||
      m === undefined ||
      (isObject(m) && typeof m.deviceId === 'string' && typeof m.leaseExpiresAt === 'string'),
    'migration',
    status,
  );
  check(typeof b.createdAt === 'string' && typeof b.updatedAt === 'string', 'times', status);
  checkKdfParams(b.kdf as BundleMaterial['kdf']);
  return {
    version: b.version as number,
    state: b.state as BundleState,
    kdf: b.kdf as BundleMaterial['kdf'],
    passwordWrappedKey: b.passwordWrappedKey as BundleMaterial['passwordWrappedKey'],
    recoveryWrappedKey: b.recoveryWrappedKey as BundleMaterial['recoveryWrappedKey'],
    contentKeys: keys as BundleMaterial['contentKeys'],
    currentKid: b.currentKid as string,
    migration: (m ?? null) as ServerBundle['migration'],
    createdAt: b.createdAt as string,
    updatedAt: b.updatedAt as string,
  };
}

/** The material of a bundle (what the crypto functions read and write). */
export function materialOf(b: BundleMaterial): BundleMaterial {
  return {
    kdf: b.kdf,
    passwordWrappedKey: b.passwordWrappedKey,
    recoveryWrappedKey: b.recoveryWrappedKey,
    contentKeys: b.contentKeys,
    currentKid: b.currentKid,
  };
}

/** The account's bundle, or null when encryption is off (or the server predates it: 404). */
export async function fetchBundle(auth: Auth): Promise<ServerBundle | null> {
  const res = await auth.request('/auth/encryption');
  if (res.status === 404) return null;
  if (!res.ok) throw await errorFromResponse(res);
  const body = await readJson(res);
  check(isObject(body) && typeof body.enabled === 'boolean', 'enabled', res.status);
  const status = body as { enabled: boolean; bundle?: unknown };
  return status.enabled ? parseBundle(status.bundle, res.status) : null;
}

/**
 * Writes version `expectedVersion + 1`. A lost race is `JournalError` `version_conflict`;
 * `conflictCurrent(err)` reads the bundle that won. A live lease of another device:
 * `migration_in_progress`.
 */
export async function putBundle(
  auth: Auth,
  expectedVersion: number,
  bundle: BundleWrite,
): Promise<ServerBundle> {
  const res = await auth.request('/auth/encryption', {
    method: 'PUT',
    json: {
      expectedVersion,
      bundle: {
        ...materialOf(bundle),
        state: bundle.state,
        migration: bundle.migration,
      },
    },
  });
  if (!res.ok) throw await errorFromResponse(res);
  return parseBundle(await readJson(res), res.status);
}

/** The current bundle a `version_conflict` carries (null: none, or unreadable). */
export function conflictCurrent(err: unknown): ServerBundle | null {
  if (!(err instanceof JournalError) || err.code !== 'version_conflict') return null;
  try {
    return err.problem?.current ? parseBundle(err.problem.current, err.status) : null;
  } catch {
    return null;
  }
}

/** True while a device other than `deviceId` holds a lease that has not expired. */
export function foreignLease(bundle: ServerBundle, deviceId: string, now = Date.now()): boolean {
  const m = bundle.migration;
  return !!m && m.deviceId !== deviceId && Date.parse(m.leaseExpiresAt) > now;
}
