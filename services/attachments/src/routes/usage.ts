import { caller, usageOperations as ops, routesPlugin } from '@journal/shared';
import type { AttachmentsQuota } from '../attachments/quota.js';

export interface UsageRoutesDeps {
  quota: Pick<AttachmentsQuota, 'reading'>;
}

/** `GET /storage/usage`: the caller's attachments and their bytes against the quotas. */
export const usageRoutes = routesPlugin(
  'attachments-usage-routes',
  async (app, deps: UsageRoutesDeps) => {
    app.get(
      ops.storageUsage.path,
      { schema: ops.storageUsage.schema, onRequest: app.authenticate },
      async (request) => deps.quota.reading(caller(request).userId),
    );
  },
);
