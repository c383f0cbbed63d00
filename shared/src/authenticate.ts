import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { bearerToken, type VerifiedToken, type VerifyAccessToken } from './tokens.js';

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

/**
 * Every service verifies the bearer token on its own (signature, exp, iss, aud): a request that
 * reaches a service around the gateway, with a forged identity header or none, is refused.
 * Identity comes only from the verified token, never from a header.
 */
export const authenticatePlugin = fp(
  async (app: FastifyInstance, opts: { verify: VerifyAccessToken }) => {
    app.decorateRequest('auth', undefined);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization);
      request.auth = await opts.verify(token);
      request.userId = request.auth.userId;
    });
  },
  { name: AUTHENTICATE_PLUGIN, fastify: '5.x' },
);

/** The verified caller of a route guarded by `app.authenticate`. */
export function caller(request: FastifyRequest): VerifiedToken {
  if (!request.auth) throw new Error('route is not guarded by app.authenticate');
  return request.auth;
}
