import { caller, noBodyAsEmptyObject, syncOperations as ops, routesPlugin } from '@journal/shared';
import type { SyncEncryption } from '../encryption/service.js';

export interface EncryptionRoutesDeps {
  encryption: Pick<SyncEncryption, 'finish'>;
}

/** `POST /sync/encryption/finish` (docs/encryption.md); the push's check is in routes/sync.ts. */
export const encryptionRoutes = routesPlugin(
  'sync-encryption-routes',
  async (app, deps: EncryptionRoutesDeps) => {
    app.post(
      ops.finishEncryption.path,
      {
        schema: ops.finishEncryption.schema,
        onRequest: app.authenticate,
        // The call takes no body (or `{}`); none at all is validated as `{}`.
        preValidation: noBodyAsEmptyObject,
      },
      async (request) => deps.encryption.finish(caller(request).userId),
    );
  },
);
