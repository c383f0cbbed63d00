import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Db } from 'mongodb';
import { ProblemError } from './errors.js';
import type { Logger } from './logger.js';
import type { Redis } from './redis.js';
import { type RevocationWatch, watchRevocations } from './revocations.js';
import {
  bearerToken,
  tokenVerifierFromConfig,
  type VerifiedToken,
  type VerifyAccessToken,
} from './tokens.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for routes that need a caller: verifies the bearer token itself. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
  }
  interface FastifyRequest {
    auth?: VerifiedToken;
  }
}

/** The name routes plugins list in their `dependencies` (see `routesPlugin`). */
export const AUTHENTICATE_PLUGIN = 'journal-authenticate';

export interface AuthenticateOptions {
  verify: VerifyAccessToken;
  /** Ended sessions (revocations.ts): their tokens are refused though validly signed. */
  revocations?: { isRevoked(token: VerifiedToken): boolean };
}

/**
 * Every service verifies the bearer token on its own (signature, exp, iss, aud, iat, lifetime)
 * and refuses one whose session has ended (an in-memory lookup): a request that reaches a
 * service around the gateway, with a forged identity header, a revoked token or none, is
 * refused. Identity comes only from the verified token, never from a header.
 */
export const authenticatePlugin = fp(
  async (app: FastifyInstance, opts: AuthenticateOptions) => {
    app.decorateRequest('auth', undefined);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      const verified = await opts.verify(token);
      if (opts.revocations?.isRevoked(verified)) {
        throw new ProblemError('unauthorized', 'the session has ended');
      }
      request.auth = verified;
      request.userId = verified.userId;
    });
  },
  { name: AUTHENTICATE_PLUGIN, fastify: '5.x' },
);

/** The verified caller of a route guarded by `app.authenticate`. */
export function caller(request: FastifyRequest): VerifiedToken {
  if (!request.auth) throw new Error('route is not guarded by app.authenticate');
  return request.auth;
}

/**
 * What a storage service (sync, attachments) registers to authenticate its callers: the shared
 * verifier from its configuration and the revocation set kept current from MongoDB and Redis.
 * Resolves once the set is loaded, so the service never listens before it knows every ended
 * session; the subscription closes with the app.
 */
export async function registerServiceAuthentication(
  app: FastifyInstance,
  deps: {
    config: Parameters<typeof tokenVerifierFromConfig>[0] & { REDIS_KEY_PREFIX: string };
    db: Db;
    redis: Redis;
    logger: Logger;
  },
): Promise<RevocationWatch> {
  const revocations = await watchRevocations({
    db: deps.db,
    redis: deps.redis,
    keyPrefix: deps.config.REDIS_KEY_PREFIX,
    accessTtlSeconds: deps.config.JWT_ACCESS_TTL_SECONDS,
    logger: deps.logger,
  });
  app.addHook('onClose', () => revocations.close());
  await app.register(authenticatePlugin, {
    verify: tokenVerifierFromConfig(deps.config),
    revocations,
  });
  return revocations;
}
