import {
  caller,
  type FastifyPluginAsyncZod,
  attachmentsOperations as ops,
  routesPlugin,
  STORAGE_LIMITS,
} from '@journal/shared';
import type { QiniuService } from '../qiniu/service.js';

export interface QiniuRoutesDeps {
  qiniu: QiniuService;
}

/** Qiniu's upload callback: signature-checked, not bearer-authenticated. */
const callbackRoute: FastifyPluginAsyncZod<QiniuRoutesDeps> = async (app, deps) => {
  // The signature covers the exact bytes, so this scope keeps bodies raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    ['application/json', 'application/x-www-form-urlencoded'],
    { parseAs: 'buffer', bodyLimit: STORAGE_LIMITS.maxBodyBytes },
    (_request, body, done) => done(null, body),
  );

  app.post(ops.qiniuCallback.path, { schema: ops.qiniuCallback.schema }, async (request) =>
    deps.qiniu.recordUpload({
      method: request.method,
      url: request.url,
      protocol: request.protocol,
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
    }),
  );
};

export const qiniuRoutes = routesPlugin('qiniu-routes', async (app, deps: QiniuRoutesDeps) => {
  await app.register(callbackRoute, deps);

  app.get(
    ops.qiniuToken.path,
    { schema: ops.qiniuToken.schema, onRequest: app.authenticate },
    async (request) => deps.qiniu.uploadToken(caller(request).userId, request.query.key),
  );

  app.get(
    ops.qiniuUrl.path,
    { schema: ops.qiniuUrl.schema, onRequest: app.authenticate },
    async (request) => deps.qiniu.downloadUrl(caller(request).userId, request.query.key),
  );
});
