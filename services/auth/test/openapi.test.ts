import swagger from '@fastify/swagger';
import { authOperations } from '@journal/shared';
import Fastify from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';

describe('auth operations in the OpenAPI document', () => {
  it('render every auth call from the same schemas the routes validate with', async () => {
    const app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(swagger, {
      openapi: { openapi: '3.1.0', info: { title: 'journal', version: '1' } },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    for (const op of Object.values(authOperations)) {
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
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/auth/login',
      '/auth/logout',
      '/auth/me',
      '/auth/refresh',
      '/auth/register',
      '/auth/sessions',
    ]);
    const register = doc.paths['/auth/register']?.post as Record<string, unknown>;
    expect(Object.keys(register.responses as object).sort()).toEqual(['201', '400', '409', '429']);
    expect(JSON.stringify(register.requestBody)).toContain('Credentials');
    const all = JSON.stringify(doc);
    expect(all).toContain('^[A-Za-z0-9._@-]{3,64}$');
    expect(all).toContain('"maxLength":256');
    expect(all).toContain('"additionalProperties":false');
    expect(all).not.toContain('\\p{');
    const logout = doc.paths['/auth/logout']?.post as Record<string, unknown>;
    expect(JSON.stringify(logout.requestBody)).toContain('LogoutRequest');
    expect(Object.keys(logout.responses as object)).toContain('204');
    await app.close();
  });
});
