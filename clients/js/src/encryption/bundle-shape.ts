import { type BundleMaterial, checkKdfParams, isEnvelope } from '../crypto/index.js';
import { badReply } from '../errors.js';
import { isObject } from '../util.js';

/**
 * The account's key bundle as the server keeps it (docs/encryption.md "The key bundle"),
 * checked before anything is derived from it, and the migration lease's rule. No I/O here
 * (bundle.ts makes the calls).
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

/** True while a device other than `deviceId` holds a lease that has not expired. */
export function foreignLease(bundle: ServerBundle, deviceId: string, now = Date.now()): boolean {
  const m = bundle.migration;
  return !!m && m.deviceId !== deviceId && Date.parse(m.leaseExpiresAt) > now;
}
