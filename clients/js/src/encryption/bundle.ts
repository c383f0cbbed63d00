import type { Auth } from '../auth.js';
import { badReply, JournalError } from '../errors.js';
import { errorFromResponse, readJson } from '../http.js';
import { isObject } from '../util.js';
import { type BundleWrite, materialOf, parseBundle, type ServerBundle } from './bundle-shape.js';

export {
  type BundleState,
  type BundleWrite,
  foreignLease,
  LEASE_SECONDS,
  materialOf,
  parseBundle,
  type ServerBundle,
} from './bundle-shape.js';

/**
 * The account's key bundle on the server (`GET`/`PUT /auth/encryption`, docs/encryption.md "The
 * key bundle"): wrapped keys and the key-derivation parameters, written compare-and-swap.
 */

/** The account's bundle, or null when encryption is off (or the server predates it: 404). */
export async function fetchBundle(auth: Auth): Promise<ServerBundle | null> {
  const res = await auth.request('/auth/encryption');
  if (res.status === 404) return null;
  if (!res.ok) throw await errorFromResponse(res);
  const body = await readJson(res);
  if (!isObject(body) || typeof body.enabled !== 'boolean') {
    throw badReply('encryption status: enabled', res.status);
  }
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
