import { type Credentials, ProblemError, type SessionReply } from '@journal/shared';
import type { PasswordHasher } from '../passwords/hasher.js';
import { type Limit, type RateLimiter, rateLimited } from '../ratelimit/limiter.js';
import { type SessionService, toUserReply } from '../sessions/service.js';
import { normaliseUsername, type UsersRepository } from './repository.js';

export interface AccountLimits {
  loginPerUsername: Limit;
  loginPerIp: Limit;
  registerPerIp: Limit;
}

export interface AccountServiceDeps {
  users: UsersRepository;
  hasher: PasswordHasher;
  sessions: SessionService;
  limiter: RateLimiter;
  limits: AccountLimits;
}

const invalidCredentials = () =>
  new ProblemError('invalid_credentials', 'wrong username or password');

/** Register and login (the only two calls that see a password), and the caller's account. */
export function createAccountService(deps: AccountServiceDeps) {
  const { limiter, limits } = deps;

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
      const passwordHash = await deps.hasher.hash(input.password);
      const user = await deps.users.create(input.username, passwordHash);
      return deps.sessions.start(user, input.deviceName ?? null);
    },

    /**
     * Every attempt counts against the per-username and per-address limits before the password
     * is checked (so parallel guesses cannot slip past the limit); a success takes its count
     * back. An unknown user costs the same hashing time as a wrong password and gets the
     * same answer.
     */
    async login(input: Credentials, clientIp: string): Promise<SessionReply> {
      const usernameKey = normaliseUsername(input.username);
      const [byName, byIp] = await Promise.all([
        limiter.hit(limits.loginPerUsername, usernameKey),
        limiter.hit(limits.loginPerIp, clientIp),
      ]);
      const blocked = [
        byName.count > limits.loginPerUsername.max ? byName.resetMs : 0,
        byIp.count > limits.loginPerIp.max ? byIp.resetMs : 0,
      ];
      if (blocked.some((ms) => ms > 0)) {
        throw rateLimited(Math.max(...blocked), 'too many failed logins, try again later');
      }

      const user = await deps.users.findForLogin(input.username);
      const result = user
        ? await deps.hasher.verify(input.password, user.passwordHash)
        : { ok: await deps.hasher.verifyDummy(input.password), needsRehash: false };
      if (!user || !result.ok) throw invalidCredentials();

      await Promise.all([
        limiter.reset(limits.loginPerUsername, usernameKey),
        limiter.undo(limits.loginPerIp, clientIp),
      ]);
      if (result.needsRehash) {
        await deps.users.replaceHash(
          user._id,
          user.passwordHash,
          await deps.hasher.hash(input.password),
        );
      }
      return deps.sessions.start(user, input.deviceName ?? null);
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
