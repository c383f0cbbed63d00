import { ProblemError } from '@journal/shared';
import { Counter, type Registry } from 'prom-client';

/**
 * Domain counters an operator graphs and alerts on next to the HTTP histograms (names prefixed
 * `auth_` like `sync_` and `attachments_` of the other services). `result` is `success` or the
 * problem code the call answered (`invalid_credentials`, `rate_limited`, `username_taken`,
 * `unauthorized`, …), or `error` for anything unexpected.
 */
export function createAuthMetrics(registry: Registry) {
  return {
    deletionsRequested: new Counter({
      name: 'auth_account_deletions_requested_total',
      help: 'Account deletions requested (DELETE /auth/account answered 202)',
      registers: [registry],
    }),
    logins: new Counter({
      name: 'auth_logins_total',
      help: 'POST /auth/login outcomes: success, or the problem code (invalid_credentials, rate_limited, …)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    registrations: new Counter({
      name: 'auth_registrations_total',
      help: 'POST /auth/register outcomes: success, or the problem code (username_taken, rate_limited, …)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    refreshes: new Counter({
      name: 'auth_refreshes_total',
      help: 'POST /auth/refresh outcomes: success, or the problem code (unauthorized, …)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    refreshTokenReuse: new Counter({
      name: 'auth_refresh_token_reuse_total',
      help: 'Refresh tokens presented again after use: each ended its session (RFC 9700 §4.14.2)',
      registers: [registry],
    }),
    logouts: new Counter({
      name: 'auth_logouts_total',
      help: 'POST /auth/logout calls, by scope (session, all_devices)',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
  };
}

export type AuthMetrics = ReturnType<typeof createAuthMetrics>;

/** The `result` label of a call that threw `err`. */
export function resultOf(err: unknown): string {
  return err instanceof ProblemError ? err.code : 'error';
}

/** Runs `call`, counting its outcome in `counter` by `result`. */
export async function counted<T>(counter: Counter<'result'>, call: () => Promise<T>): Promise<T> {
  try {
    const value = await call();
    counter.inc({ result: 'success' });
    return value;
  } catch (err) {
    counter.inc({ result: resultOf(err) });
    throw err;
  }
}
