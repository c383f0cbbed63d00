import type { Readable } from 'node:stream';
import {
  caller,
  type FastifyPluginAsyncZod,
  attachmentsOperations as ops,
  ProblemError,
  routesPlugin,
} from '@journal/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { decodeCursor, encodeCursor } from '../attachments/cursor.js';
import { ifRangeHolds, noneMatch, parseRange } from '../attachments/ranges.js';
import type { AttachmentsService } from '../attachments/service.js';

export interface AttachmentRoutesDeps {
  service: AttachmentsService;
  maxBytes: number;
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

function notFound(id: string): ProblemError {
  // The same answer for another user's attachment as for a missing one.
  return new ProblemError('not_found', `no attachment ${id}`);
}

/** PUT streams the raw body into storage: any Content-Type, JSON included, never buffered. */
const uploadRoute: FastifyPluginAsyncZod<AttachmentRoutesDeps> = async (app, deps) => {
  // In this scope only: no JSON or text parser, one catch-all that hands over the stream.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.put(
    ops.put.path,
    {
      schema: ops.put.schema,
      onRequest: app.authenticate,
      // Answering before the whole body was read: close the connection instead of draining it.
      onSend: async (request, reply, payload) => {
        if (reply.statusCode >= 400 && !request.raw.complete) reply.header('connection', 'close');
        return payload;
      },
    },
    async (request, reply) => {
      const { userId } = caller(request);
      const { id } = request.params;
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > deps.maxBytes) {
        throw new ProblemError(
          'payload_too_large',
          `the attachment is larger than the limit of ${deps.maxBytes} bytes`,
        );
      }
      const contentType = request.headers['content-type'] ?? DEFAULT_CONTENT_TYPE;
      if (contentType.length > 255) {
        throw new ProblemError('validation_failed', 'content-type must be at most 255 characters', {
          errors: [{ path: 'headers.content-type', message: 'must be at most 255 characters' }],
        });
      }
      const stream = (request.body as Readable | undefined) ?? request.raw;
      // Stopping early (limit crossed) must not destroy the socket: the 413 still has to be
      // sent; onSend then closes the connection instead of draining the rest.
      const body = stream.iterator({ destroyOnReturn: false });
      try {
        const result = await deps.service.put({
          owner: userId,
          id,
          contentType,
          body,
          expectedSha256: request.headers['x-content-sha256'],
          declaredBytes: Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined,
        });
        if (result.created) reply.header('location', `/attachments/${id}`);
        return reply.code(result.created ? 201 : 200).send(result.attachment);
      } catch (err) {
        const clientGone =
          !request.raw.complete && (request.raw.readableAborted || request.raw.destroyed);
        if (!(err instanceof ProblemError) && clientGone) {
          // The client hung up mid-body; nothing was kept and nobody is listening. (A store
          // failure mid-body also leaves the body unread, but the client is still there: that
          // error goes on to the error handler, a 503 when the database is unreachable.)
          request.log.info({ attachmentId: id }, 'upload abandoned by the client');
          throw new ProblemError('validation_failed', 'the upload ended before the whole body');
        }
        throw err;
      }
    },
  );
};

const downloadRoutes: FastifyPluginAsyncZod<AttachmentRoutesDeps> = async (app, deps) => {
  async function serve(
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
    withBody: boolean,
  ) {
    const { userId } = caller(request);
    const doc = await deps.service.find(userId, id);
    if (!doc) throw notFound(id);

    const etag = `"${doc.sha256}"`;
    reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'private');
    // Never a page of the app's origin: a file opened directly (an SVG, HTML) is a download in
    // a sandbox, with no script and no same-origin access (docs/attachments.md).
    reply
      .header('content-disposition', `attachment; filename="${id}"`)
      .header('content-security-policy', "sandbox; default-src 'none'")
      .header('x-content-type-options', 'nosniff');
    // If-None-Match wins over Range (RFC 9110 §13.2.2).
    if (noneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();

    const ifRange = request.headers['if-range'];
    const range = ifRangeHolds(Array.isArray(ifRange) ? ifRange[0] : ifRange, etag)
      ? parseRange(request.headers.range, doc.size)
      : ({ kind: 'full' } as const);
    if (range.kind === 'unsatisfiable') {
      throw new ProblemError(
        'range_not_satisfiable',
        `the range does not overlap the attachment's ${doc.size} bytes`,
        { headers: { 'content-range': `bytes */${doc.size}` } },
      );
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : doc.size - 1;
    const length = end - start + 1;
    if (range.kind === 'partial') {
      reply.code(206).header('content-range', `bytes ${start}-${end}/${doc.size}`);
    }
    reply.header('content-type', doc.contentType).header('content-length', String(length));
    if (!withBody || length === 0) return reply.send();
    return reply.send(deps.service.read(doc, { start, end }));
  }

  app.get(
    ops.get.path,
    { schema: ops.get.schema, onRequest: app.authenticate, exposeHeadRoute: false },
    (request, reply) => serve(request, reply, request.params.id, true),
  );
  app.head(
    ops.head.path,
    { schema: ops.head.schema, onRequest: app.authenticate },
    (request, reply) => serve(request, reply, request.params.id, false),
  );

  app.delete(
    ops.delete.path,
    { schema: ops.delete.schema, onRequest: app.authenticate },
    async (request, reply) => {
      const { userId } = caller(request);
      if (!(await deps.service.remove(userId, request.params.id))) {
        throw notFound(request.params.id);
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    ops.list.path,
    { schema: ops.list.schema, onRequest: app.authenticate },
    async (request) => {
      const { userId } = caller(request);
      const { limit, cursor } = request.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const page = await deps.service.list(userId, limit, after);
      return {
        attachments: page.attachments,
        nextCursor: page.lastId ? encodeCursor(page.lastId) : null,
      };
    },
  );
};

/** Upload (raw streamed bodies, in a scope of its own), download, delete and list. */
export const attachmentRoutes = routesPlugin(
  'attachment-routes',
  async (app, deps: AttachmentRoutesDeps) => {
    await app.register(uploadRoute, deps);
    await app.register(downloadRoutes, deps);
  },
);
