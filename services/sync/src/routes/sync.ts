import { caller, syncOperations as ops, routesPlugin, SYNC_LIMITS } from '@journal/shared';
import { type Idempotency, withIdempotency } from '../entries/idempotency.js';
import type { EntriesService } from '../entries/service.js';
import type { SyncTrafficMetrics } from './metrics.js';

export interface SyncRoutesDeps {
  service: EntriesService;
  idempotency: Idempotency;
  traffic: SyncTrafficMetrics;
}

/** HTTP only: schemas from shared/src/api/sync.ts, the caller from the verified token. */
export const syncRoutes = routesPlugin('sync-routes', async (app, deps: SyncRoutesDeps) => {
  app.get(
    ops.changes.path,
    { schema: ops.changes.schema, onRequest: app.authenticate },
    async (request, reply) => {
      const { userId } = caller(request);
      // A client that hangs up ends its long-poll at once.
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const page = await deps.service.changes(userId, request.query, gone.signal);
      deps.traffic.pullChanges.observe(page.changes.length);
      return page;
    },
  );

  app.post(
    ops.push.path,
    {
      schema: ops.push.schema,
      onRequest: app.authenticate,
      bodyLimit: SYNC_LIMITS.maxPushBytes,
    },
    async (request) => {
      const { userId } = caller(request);
      deps.traffic.pushChanges.observe(request.body.changes.length);
      return withIdempotency(deps.idempotency, userId, request.headers['idempotency-key'], () =>
        deps.service.push(userId, request.body),
      );
    },
  );
});
