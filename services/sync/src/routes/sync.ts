import { caller, syncOperations as ops, type ServiceApp, SYNC_LIMITS } from '@journal/shared';
import type { Idempotency } from '../entries/idempotency.js';
import type { EntriesService } from '../entries/service.js';
import type { SyncTrafficMetrics } from './metrics.js';

export interface SyncRoutesDeps {
  service: EntriesService;
  idempotency: Idempotency;
  traffic: SyncTrafficMetrics;
}

/** HTTP only: schemas from shared/src/api/sync.ts, the caller from the verified token. */
export async function syncRoutes(app: ServiceApp, deps: SyncRoutesDeps) {
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
      const key = request.headers['idempotency-key'];
      if (key === undefined) return deps.service.push(userId, request.body);
      const start = await deps.idempotency.start(userId, key);
      if (start.kind === 'replay') return start.reply;
      let result: Awaited<ReturnType<EntriesService['push']>>;
      try {
        result = await deps.service.push(userId, request.body);
      } catch (err) {
        await deps.idempotency.abandon(userId, key);
        throw err;
      }
      await deps.idempotency.finish(userId, key, result);
      return result;
    },
  );
}
