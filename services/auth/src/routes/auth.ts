import {
  authOperations,
  caller,
  type FastifyPluginAsyncZod,
  ProblemError,
  routesPlugin,
} from '@journal/shared';
import { type AuthMetrics, counted } from '../metrics.js';
import type { LiveSessions } from '../sessions/live.js';
import type { SessionService } from '../sessions/service.js';
import type { AccountService } from '../users/service.js';
import { liveSessionCheck } from './live-session.js';

export interface AuthRoutesDeps {
  accounts: AccountService;
  sessions: SessionService;
  live: LiveSessions;
  metrics: AuthMetrics;
}

const ops = authOperations;

/** The public auth calls of docs/api.md; schemas come from shared/src/api/auth.ts. */
export const authRoutes = routesPlugin('auth-routes', async (app, deps: AuthRoutesDeps) => {
  const requireLiveSession = liveSessionCheck(app, deps.live);

  app.route({
    method: ops.register.method,
    url: ops.register.path,
    schema: ops.register.schema,
    handler: async (request, reply) => {
      const session = await counted(deps.metrics.registrations, () =>
        deps.accounts.register(request.body, request.ip),
      );
      request.userId = session.user.id;
      request.log.info({ userId: session.user.id }, 'user registered');
      return reply.code(201).send(session);
    },
  });

  app.route({
    method: ops.login.method,
    url: ops.login.path,
    schema: ops.login.schema,
    handler: async (request) => {
      const session = await counted(deps.metrics.logins, () =>
        deps.accounts.login(request.body, request.ip),
      );
      request.userId = session.user.id;
      return session;
    },
  });

  app.route({
    method: ops.refresh.method,
    url: ops.refresh.path,
    schema: ops.refresh.schema,
    handler: async (request) => {
      const session = await counted(deps.metrics.refreshes, () =>
        deps.sessions.refresh(request.body.refreshToken),
      );
      request.userId = session.user.id;
      return session;
    },
  });

  app.route({
    method: ops.me.method,
    url: ops.me.path,
    schema: ops.me.schema,
    onRequest: requireLiveSession,
    handler: async (request) => deps.accounts.me(caller(request).userId),
  });

  app.route({
    method: ops.sessions.method,
    url: ops.sessions.path,
    schema: ops.sessions.schema,
    onRequest: requireLiveSession,
    handler: async (request) => {
      const { userId, sessionId } = caller(request);
      return { sessions: await deps.sessions.list(userId, sessionId) };
    },
  });

  app.route({
    method: ops.changePassword.method,
    url: ops.changePassword.path,
    schema: ops.changePassword.schema,
    onRequest: requireLiveSession,
    handler: async (request, reply) => {
      const { userId, sessionId } = caller(request);
      await deps.accounts.changePassword({ userId, sessionId }, request.body, request.ip);
      request.log.info('password changed; other sessions ended');
      return reply.code(204).send(null);
    },
  });

  app.route({
    method: ops.revokeSession.method,
    url: ops.revokeSession.path,
    schema: ops.revokeSession.schema,
    onRequest: requireLiveSession,
    handler: async (request, reply) => {
      const { userId } = caller(request);
      if (!(await deps.sessions.revoke(userId, request.params.id))) {
        throw new ProblemError('not_found', 'no such session');
      }
      return reply.code(204).send(null);
    },
  });

  app.route({
    method: ops.deleteAccount.method,
    url: ops.deleteAccount.path,
    schema: ops.deleteAccount.schema,
    onRequest: requireLiveSession,
    handler: async (request, reply) => {
      const deletedAt = await deps.accounts.deleteAccount(
        caller(request),
        request.body.password,
        request.ip,
      );
      request.log.info({ deletedAt }, 'account deletion requested');
      return reply.code(202).send({ deletedAt: deletedAt.toISOString() });
    },
  });

  // Logout takes an optional body: in its own scope, an empty JSON body counts as `{}`.
  const logout: FastifyPluginAsyncZod = async (scope) => {
    const parseJson = scope.getDefaultJsonParser('error', 'error');
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      if (String(body).trim() === '') return done(null, {});
      return parseJson(request, String(body), done);
    });

    scope.route({
      method: ops.logout.method,
      url: ops.logout.path,
      schema: ops.logout.schema,
      onRequest: requireLiveSession,
      // No body at all arrives as null: treat it as `{}` before validation.
      preValidation: async (request) => {
        if (request.body === null || request.body === undefined) request.body = {};
      },
      handler: async (request, reply) => {
        const { userId, sessionId } = caller(request);
        if (request.body?.allDevices) {
          const ended = await deps.sessions.endAll(userId, 'logout_all');
          request.log.info({ sessions: ended }, 'logged out on all devices');
          deps.metrics.logouts.inc({ scope: 'all_devices' });
        } else {
          await deps.sessions.end(sessionId, userId, 'logout');
          deps.metrics.logouts.inc({ scope: 'session' });
        }
        return reply.code(204).send(null);
      },
    });
  };
  await app.register(logout);
});
