import {
  caller,
  attachmentsOperations as ops,
  ProblemError,
  qiniuCallbackBodySchema,
  type ServiceApp,
  STORAGE_LIMITS,
} from '@journal/shared';
import type { AttachmentsMetrics } from '../attachments/metrics.js';
import { ownerOfKey, type Qiniu } from '../qiniu/qiniu.js';
import type { QiniuUploadsRepository } from '../qiniu/uploads-repository.js';

export interface QiniuRoutesDeps {
  qiniu: Qiniu | null;
  uploads: QiniuUploadsRepository;
  metrics: AttachmentsMetrics;
  /** QINIU_CALLBACK_URL: its origin is what Qiniu signed as the host. */
  callbackUrl: string | undefined;
}

function configured(qiniu: Qiniu | null): Qiniu {
  if (!qiniu) {
    throw new ProblemError(
      'storage_not_configured',
      'Qiniu storage is not configured on this server',
    );
  }
  return qiniu;
}

function parseCallbackBody(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (contentType?.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemError('invalid_json', 'the callback body is not valid JSON');
  }
}

async function callbackRoute(app: ServiceApp, deps: QiniuRoutesDeps) {
  // The signature covers the exact bytes, so this scope keeps bodies raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded'],
    { parseAs: 'buffer', bodyLimit: STORAGE_LIMITS.maxBodyBytes },
    (_request, body, done) => done(null, body),
  );

  app.post(ops.qiniuCallback.path, { schema: ops.qiniuCallback.schema }, async (request) => {
    const qiniu = configured(deps.qiniu);
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === 'string') headers[name] = value;
    }
    const origin = deps.callbackUrl
      ? new URL(deps.callbackUrl).origin
      : `${request.protocol}://${request.headers.host ?? 'localhost'}`;
    const valid = qiniu.verifyCallback({
      origin,
      pathAndQuery: request.url,
      method: request.method,
      contentType: request.headers['content-type'],
      headers,
      body,
      authorization: request.headers.authorization,
    });
    if (!valid) {
      deps.metrics.qiniuCallbacks.inc({ result: 'bad_signature' });
      throw new ProblemError('unauthorized', 'missing or invalid Qiniu callback signature');
    }

    const parsed = qiniuCallbackBodySchema.safeParse(
      parseCallbackBody(body, request.headers['content-type']),
    );
    const owner = parsed.success ? ownerOfKey(parsed.data.key) : null;
    if (!parsed.success || !owner || (parsed.data.bucket && parsed.data.bucket !== qiniu.bucket)) {
      deps.metrics.qiniuCallbacks.inc({ result: 'invalid' });
      throw new ProblemError(
        'validation_failed',
        'the callback needs key (users/<userId>/...), fsize and hash for this bucket',
      );
    }
    const { key, fsize, hash, mimeType } = parsed.data;
    const record = {
      key,
      owner,
      bucket: qiniu.bucket,
      size: fsize,
      hash,
      mimeType: mimeType || null,
      uploadedAt: new Date(),
    };
    await deps.uploads.record(record);
    deps.metrics.qiniuCallbacks.inc({ result: 'recorded' });
    return {
      key,
      owner,
      size: fsize,
      hash,
      mimeType: record.mimeType,
      uploadedAt: record.uploadedAt.toISOString(),
    };
  });
}

async function tokenRoutes(app: ServiceApp, deps: QiniuRoutesDeps) {
  app.get(
    ops.qiniuToken.path,
    { schema: ops.qiniuToken.schema, onRequest: app.authenticate },
    async (request) => {
      const { userId } = caller(request);
      const reply = configured(deps.qiniu).uploadToken(userId, request.query.key);
      deps.metrics.qiniuTokens.inc();
      return reply;
    },
  );

  app.get(
    ops.qiniuUrl.path,
    { schema: ops.qiniuUrl.schema, onRequest: app.authenticate },
    async (request) => {
      const { userId } = caller(request);
      return configured(deps.qiniu).downloadUrl(userId, request.query.key);
    },
  );
}

export async function qiniuRoutes(app: ServiceApp, deps: QiniuRoutesDeps) {
  await app.register(async (scope) => callbackRoute(scope as ServiceApp, deps));
  await app.register(async (scope) => tokenRoutes(scope as ServiceApp, deps));
}
