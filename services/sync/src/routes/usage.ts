import { caller, usageOperations as ops, routesPlugin } from '@journal/shared';
import type { EntriesQuota } from '../quota/entries-quota.js';

export interface UsageRoutesDeps {
  quota: Pick<EntriesQuota, 'reading'>;
}

/** `GET /sync/usage`: the caller's entries and their bytes against the entries quotas. */
export const usageRoutes = routesPlugin('sync-usage-routes', async (app, deps: UsageRoutesDeps) => {
  app.get(
    ops.syncUsage.path,
    { schema: ops.syncUsage.schema, onRequest: app.authenticate },
    async (request) => deps.quota.reading(caller(request).userId),
  );
});
