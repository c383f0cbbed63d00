import { Readable } from 'node:stream';
import { caller, syncOperations as ops, routesPlugin, SYNC_LIMITS } from '@journal/shared';
import type { SyncEncryption } from '../encryption/service.js';
import type { EntryHistory } from '../entries/history.js';
import { type Idempotency, withIdempotency } from '../entries/idempotency.js';
import { pageJson, sendJsonText } from '../entries/json.js';
import type { EntriesService } from '../entries/service.js';
import type { SyncTrafficMetrics } from '../metrics.js';

export interface SyncRoutesDeps {
  service: EntriesService;
  /** An entry's kept versions (entries/history.ts). */
  history: EntryHistory;
  idempotency: Idempotency;
  traffic: SyncTrafficMetrics;
  /** End-to-end encryption: an encrypted account pushes envelopes only. */
  encryption: Pick<SyncEncryption, 'checkPush'>;
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
      // JSON text already (json.ts): sent as it is, not serialized again.
      return sendJsonText(reply, pageJson(page));
    },
  );

  app.post(
    ops.push.path,
    {
      schema: ops.push.schema,
      onRequest: app.authenticate,
      bodyLimit: SYNC_LIMITS.maxPushBytes,
    },
    async (request, reply) => {
      const { userId } = caller(request);
      const { body } = request;
      deps.traffic.pushChanges.observe(body.changes.length);
      // Before anything is written (idempotency claim and quota included).
      await deps.encryption.checkPush(userId, body);
      const outcome = await withIdempotency(
        deps.idempotency,
        userId,
        request.headers['idempotency-key'],
        () => deps.service.push(userId, body),
      );
      // Streamed: the conflicts' current versions are read a few at a time (push-reply.ts).
      return sendJsonText(reply, Readable.from(deps.service.pushReply(userId, outcome)));
    },
  );

  app.get(
    ops.history.path,
    { schema: ops.history.schema, onRequest: app.authenticate },
    async (request) => {
      const { userId } = caller(request);
      return deps.history.list(userId, request.params.id, request.query);
    },
  );
});
