import swagger from '@fastify/swagger';
import type { Operation } from '@journal/shared';
import Fastify from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';

export interface RenderedDocument {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, unknown> };
}

/**
 * Registers `operations` as routes with exactly the schemas the services validate with and
 * renders them through @fastify/swagger, so a schema that can't become OpenAPI fails a test.
 */
export async function renderOperations(
  operations: Record<string, Operation>,
): Promise<RenderedDocument> {
  const app = Fastify();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: { openapi: '3.1.0', info: { title: 'journal', version: '1' } },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  for (const op of Object.values(operations)) {
    app.route({
      method: op.method,
      url: op.path,
      schema: { ...op.schema, operationId: op.operationId, tags: op.tags, summary: op.summary },
      handler: async () => ({}),
    });
  }
  await app.ready();
  const doc = app.swagger() as unknown as RenderedDocument;
  await app.close();
  return doc;
}
