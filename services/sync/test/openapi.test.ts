import swagger from '@fastify/swagger';
import { syncOperations } from '@journal/shared';
import Fastify from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';

describe('sync operations in the OpenAPI document', () => {
  it('render both calls from the same schemas the routes validate with', async () => {
    const app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(swagger, {
      openapi: { openapi: '3.1.0', info: { title: 'journal', version: '1' } },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    for (const op of Object.values(syncOperations)) {
      app.route({
        method: op.method,
        url: op.path,
        schema: { ...op.schema, operationId: op.operationId, tags: op.tags, summary: op.summary },
        handler: async () => ({}),
      });
    }
    await app.ready();
    const doc = app.swagger() as unknown as {
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(Object.keys(doc.paths).sort()).toEqual(['/sync/changes', '/sync/push']);
    const changes = doc.paths['/sync/changes']?.get as Record<string, unknown>;
    const params = (changes.parameters as { name: string; in: string }[]).map(
      (p) => `${p.in}:${p.name}`,
    );
    expect(params.sort()).toEqual(['query:limit', 'query:since', 'query:wait']);
    expect(Object.keys(changes.responses as object).sort()).toEqual(['200', '400', '401', '410']);
    const pushOp = doc.paths['/sync/push']?.post as Record<string, unknown>;
    expect(JSON.stringify(pushOp.requestBody)).toContain('PushRequest');
    expect(JSON.stringify(pushOp.parameters)).toContain('idempotency-key');
    const all = JSON.stringify(doc);
    expect(all).toContain('"Entry"');
    expect(all).toContain('^[A-Za-z0-9_-]{1,128}$');
    expect(all).toContain('"maxItems":500');
    expect(all).not.toContain('\\p{');
    await app.close();
  });
});
