import {
  type AccountDeletions,
  type Credentials,
  type LoginRequest,
  ProblemError,
  type SessionReply,
} from '@journal/shared';
import type { HashGate } from '../passwords/gate.js';
import type { PasswordHasher } from '../passwords/hasher.js';
import { type Limit, type RateLimiter, rateLimited } from '../ratelimit/limiter.js';
import { type SessionService, toUserReply } from '../sessions/service.js';
import type { DeviceToken, DeviceTokens } from '../tokens/device.js';
import { normaliseUsername, type UsersRepository } from './repository.js';

export interface AccountLimits {
  /** Failed logins of untrusted clients (no valid device token) per username. */
  loginPerUsername: Limit;
  /** Failed logins of untrusted clients per client address. */
  loginPerIp: Limit;
  /** Failed logins per device token (a login that presents a valid one). */
  loginPerDeviceToken: Limit;
  /** Wrong current passwords per session (password change, account deletion). */
  passwordCheckPerSession: Limit;
  registerPerIp: Limit;
}

export interface AccountServiceDeps {
  users: UsersRepository;
  hasher: PasswordHasher;
  /** Every hash runs through it (bounded, fair between addresses). */
  gate: HashGate;
  sessions: SessionService;
  /** Issued on every successful login or registration; trusted on later logins. */
  deviceTokens: DeviceTokens;
  limiter: RateLimiter;
  limits: AccountLimits;
  deletions: AccountDeletions;
  /** Called once an account deletion is recorded (metrics, an early sweep). */
  onDeletionRequested?: (userId: string) => void;
}

const invalidCredentials = () =>
  new ProblemError('invalid_credentials', 'wrong username or password');

/** The session id (`sid`) of an access token this service has just issued. */
function sessionIdOf(accessToken: string): string {
  const payload = accessToken.split('.')[1] ?? '';
  return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sid: string }).sid;
}

const wrongPassword = () => new ProblemError('invalid_credentials', 'wrong password');

/**
 * Register, login, password change and account deletion (the calls that see a password), and
 * the caller's account.
 */
export function createAccountService(deps: AccountServiceDeps) {
  const { limiter, limits } = deps;

  /**
   * Counts an attempt against the failed-login limits (per username and per address) before
   * the password is checked, exactly as login does; 429 once either is exceeded.
   */
  async function countAttempt(
    usernameKey: string,
    clientIp: string,
    refusal = 'too many failed attempts, try again later',
  ): Promise<void> {
    const [byName, byIp] = await Promise.all([
      limiter.hit(limits.loginPerUsername, usernameKey),
      limiter.hit(limits.loginPerIp, clientIp),
    ]);
    const blocked = [
      byName.count > limits.loginPerUsername.max ? byName.resetMs : 0,
      byIp.count > limits.loginPerIp.max ? byIp.resetMs : 0,
    ];
    if (blocked.some((ms) => ms > 0)) throw rateLimited(Math.max(...blocked), refusal);
  }

  /** A correct password takes its attempt back (and clears the username's failures). */
  async function forgiveAttempt(usernameKey: string, clientIp: string): Promise<void> {
    await Promise.all([
      limiter.reset(limits.loginPerUsername, usernameKey),
      limiter.undo(limits.loginPerIp, clientIp),
    ]);
  }

  /**
   * A login presenting a valid device token for its username: counted against that token's
   * own limit only, so neither the username's nor the address's failures (a stranger's) can
   * refuse it; a token that fails too often is locked out itself.
   */
  async function countDeviceAttempt(device: DeviceToken): Promise<void> {
    const state = await limiter.hit(limits.loginPerDeviceToken, device.id);
    if (state.count > limits.loginPerDeviceToken.max) {
      throw rateLimited(state.resetMs, 'too many failed logins with this device token');
    }
  }

  /**
   * The caller's user after a successful check of its password; 401 otherwise. Wrong
   * passwords are counted per session (a stolen access token guesses a bounded number of
   * times), never against the public per-username or per-address limits, which a stranger can
   * exhaust: they cannot stop a signed-in user from changing the password or leaving.
   */
  async function verifiedUser(
    caller: { userId: string; sessionId: string },
    password: string,
    clientIp: string,
  ) {
    const user = await deps.users.findWithHash(caller.userId);
    if (!user) throw new ProblemError('unauthorized', 'the user no longer exists');
    const limit = limits.passwordCheckPerSession;
    const state = await limiter.hit(limit, caller.sessionId);
    if (state.count > limit.max) {
      throw rateLimited(state.resetMs, 'too many wrong passwords in this session');
    }
    const result = await deps.gate.run(clientIp, () =>
      deps.hasher.verify(password, user.passwordHash),
    );
    if (!result.ok) throw wrongPassword();
    await limiter.reset(limit, caller.sessionId);
    return user;
  }

  return {
    /** The account of a live session's user; 401 when it no longer exists. */
    async me(userId: string) {
      const user = await deps.users.findById(userId);
      if (!user) throw new ProblemError('unauthorized', 'the user no longer exists');
      return toUserReply(user);
    },

    async register(input: Credentials, clientIp: string): Promise<SessionReply> {
      const count = await limiter.hit(limits.registerPerIp, clientIp);
      if (count.count > limits.registerPerIp.max) {
        throw rateLimited(count.resetMs, 'too many registrations from this address');
      }
      const passwordHash = await deps.gate.run(clientIp, () => deps.hasher.hash(input.password));
      const user = await deps.users.create(input.username, passwordHash);
      const session = await deps.sessions.start(user, input.deviceName ?? null);
      const usernameKey = normaliseUsername(user.username);
      return { ...session, deviceToken: await deps.deviceTokens.issue(user._id, usernameKey) };
    },

    /**
     * Every attempt counts against the limits before the password is checked (so parallel
     * guesses cannot slip past the limit, and a refused one costs no hash); a success takes its
     * count back. An untrusted client counts per username and per address; one that presents a
     * valid device token for this username counts per device token only. The check itself
     * waits for the hash gate. An unknown user costs the same hashing time as a wrong password
     * and gets the same answer. A success returns a new device token.
     */
    async login(input: LoginRequest, clientIp: string): Promise<SessionReply> {
      const usernameKey = normaliseUsername(input.username);
      const device = input.deviceToken
        ? await deps.deviceTokens.verify(input.deviceToken, usernameKey)
        : null;
      if (device) await countDeviceAttempt(device);
      else await countAttempt(usernameKey, clientIp, 'too many failed logins, try again later');

      // One gate slot for the lookup, the check and, when the stored hash is weaker than
      // today's, the rehash: a flood's store lookups wait in the gate too.
      const outcome = await deps.gate.run(clientIp, async () => {
        const user = await deps.users.findForLogin(input.username);
        if (!user) return { user, ok: await deps.hasher.verifyDummy(input.password) };
        const result = await deps.hasher.verify(input.password, user.passwordHash);
        if (!result.ok || !result.needsRehash) return { user, ok: result.ok };
        return { user, ok: true, rehash: await deps.hasher.hash(input.password) };
      });
      const { user } = outcome;
      // A device token of an earlier account with this username proves nothing about this one.
      if (!user || !outcome.ok || (device && device.userId !== user._id)) {
        throw invalidCredentials();
      }

      if (device) await limiter.reset(limits.loginPerDeviceToken, device.id);
      else await forgiveAttempt(usernameKey, clientIp);
      if (outcome.rehash) await deps.users.replaceHash(user._id, user.passwordHash, outcome.rehash);
      const session = await deps.sessions.start(user, input.deviceName ?? null);
      // Written, then checked: a password change or account deletion that ran since the check
      // above either sees this session (and ends it) or is seen here. A hash that changed only
      // by a rehash (or to the same password) still verifies.
      const current = await deps.users.findWithHash(user._id);
      const stillValid =
        current !== null &&
        (current.passwordHash === user.passwordHash ||
          (
            await deps.gate.run(clientIp, () =>
              deps.hasher.verify(input.password, current.passwordHash),
            )
          ).ok);
      if (!stillValid) {
        await deps.sessions.end(sessionIdOf(session.accessToken), user._id, 'password_changed');
        throw invalidCredentials();
      }
      return {
        ...session,
        deviceToken: await deps.deviceTokens.issue(user._id, usernameKey),
      };
    },

    /**
     * Sets a new password once the current one is verified, then ends every other session of
     * the user (their tokens are refused from the next call); the caller's session stays.
     */
    async changePassword(
      caller: { userId: string; sessionId: string },
      input: { currentPassword: string; newPassword: string },
      clientIp: string,
    ): Promise<void> {
      const user = await verifiedUser(caller, input.currentPassword, clientIp);
      const newHash = await deps.gate.run(clientIp, () => deps.hasher.hash(input.newPassword));
      // A concurrent change won: the password this call verified is no longer the password.
      if (!(await deps.users.changePassword(user._id, user.passwordHash, newHash))) {
        throw wrongPassword();
      }
      await deps.sessions.endAllExcept(user._id, caller.sessionId, 'password_change');
    },

    /**
     * Deletes the account: records the deletion (durable: every service's sweeper carries it
     * out, see docs/account-deletion.md), ends every session and removes the user (the
     * credentials stop working, the username is free). Returns when it was requested.
     */
    async deleteAccount(
      caller: { userId: string; sessionId: string },
      password: string,
      clientIp: string,
    ): Promise<Date> {
      const user = await verifiedUser(caller, password, clientIp);
      const requestedAt = await deps.deletions.request(user._id, user.usernameLower);
      await deps.sessions.endAll(user._id, 'account_deleted');
      await deps.users.deleteById(user._id);
      deps.onDeletionRequested?.(user._id);
      return requestedAt;
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
