import { envInt } from '../config.js';

/** The services that keep user data; a deletion is complete when each has completed it. */
export const DELETION_SERVICES = ['auth', 'sync', 'attachments'] as const;
export type DeletionService = (typeof DELETION_SERVICES)[number];

/** The variables of the deletion sweeper (auth, sync and attachments read them). */
export const accountDeletionConfigShape = {
  /** How often each replica looks for account deletions to carry out. 0 turns it off. */
  ACCOUNT_DELETION_SWEEP_INTERVAL_SECONDS: envInt(0, 3600).default(5),
  /**
   * A deletion is swept again on every pass until this long after it was requested, so a
   * write of a request that was already in flight when the account was deleted is caught.
   */
  ACCOUNT_DELETION_SETTLE_SECONDS: envInt(0, 3600).default(20),
} as const;

export interface AccountDeletionDoc {
  /** The deleted user's id. */
  _id: string;
  requestedAt: Date;
  /** Lower-cased username, for keys that are keyed by name (the login-failure counter). */
  usernameLower?: string;
}
