import { caller, authOperations as ops, routesPlugin } from '@journal/shared';
import type { EncryptionService } from '../encryption/service.js';
import type { LiveSessions } from '../sessions/live.js';
import { liveSessionCheck } from './live-session.js';

export interface EncryptionRoutesDeps {
  encryption: EncryptionService;
  live: LiveSessions;
}

/** GET and PUT /auth/encryption (docs/encryption.md); schemas from shared/src/api/encryption.ts. */
export const encryptionRoutes = routesPlugin(
  'encryption-routes',
  async (app, deps: EncryptionRoutesDeps) => {
    const requireLiveSession = liveSessionCheck(app, deps.live);

    app.route({
      method: ops.getEncryption.method,
      url: ops.getEncryption.path,
      schema: ops.getEncryption.schema,
      onRequest: requireLiveSession,
      handler: async (request) => deps.encryption.status(caller(request).userId),
    });

    app.route({
      method: ops.putEncryption.method,
      url: ops.putEncryption.path,
      schema: ops.putEncryption.schema,
      // Larger than the service's 16 KiB: a bundle holds up to 64 wrapped content keys.
      bodyLimit: ops.putEncryption.bodyLimit,
      onRequest: requireLiveSession,
      handler: async (request) => {
        const { expectedVersion, bundle } = request.body;
        const stored = await deps.encryption.write(caller(request).userId, expectedVersion, bundle);
        request.log.info(
          { version: stored.version, state: stored.state },
          'encryption key bundle written',
        );
        return stored;
      },
    });
  },
);
