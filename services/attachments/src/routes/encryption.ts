import {
  caller,
  noBodyAsEmptyObject,
  attachmentsOperations as ops,
  routesPlugin,
} from '@journal/shared';
import type { AttachmentsEncryption } from '../encryption/service.js';

export interface EncryptionRoutesDeps {
  encryption: Pick<AttachmentsEncryption, 'finish'>;
}

/** `POST /attachments/encryption/finish` (docs/encryption.md). */
export const encryptionRoutes = routesPlugin(
  'attachments-encryption-routes',
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
