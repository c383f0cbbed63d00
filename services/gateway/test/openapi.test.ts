import { readFile } from 'node:fs/promises';
import { allOperations } from '@journal/shared';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { buildOpenApiDocument } from '../src/openapi/document.js';
import { type GatewayHarness, startGateway } from './helpers.js';

/** The parts of the OpenAPI 3.1 schema a client generator relies on. */
const openApiShape = {
  type: 'object',
  required: ['openapi', 'info', 'paths', 'components'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: {
      type: 'object',
      required: ['title', 'version'],
      properties: { title: { type: 'string' }, version: { type: 'string' } },
    },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: { enum: ['get', 'put', 'post', 'delete', 'head', 'patch', 'options'] },
        additionalProperties: {
          type: 'object',
          required: ['operationId', 'responses'],
          properties: {
            operationId: { type: 'string' },
            parameters: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'in', 'schema'],
                properties: {
                  name: { type: 'string' },
                  in: { enum: ['query', 'path', 'header', 'cookie'] },
                  required: { type: 'boolean' },
                  schema: { type: 'object' },
                },
                if: { properties: { in: { const: 'path' } } },
                // biome-ignore lint/suspicious/noThenProperty: JSON Schema keyword
                then: { required: ['required'], properties: { required: { const: true } } },
              },
            },
            requestBody: {
              type: 'object',
              required: ['content'],
              properties: { content: { $ref: '#/$defs/content' } },
            },
            responses: {
              type: 'object',
              minProperties: 1,
              propertyNames: { pattern: '^[1-5]\\d\\d$' },
              additionalProperties: {
                type: 'object',
                required: ['description'],
                properties: {
                  description: { type: 'string' },
                  content: { $ref: '#/$defs/content' },
                },
              },
            },
            security: { type: 'array' },
          },
        },
      },
    },
    components: {
      type: 'object',
      properties: {
        schemas: { type: 'object', additionalProperties: { type: 'object' } },
        securitySchemes: { type: 'object' },
      },
    },
  },
  $defs: {
    content: {
      type: 'object',
      minProperties: 1,
      // JSON bodies are described by a schema; raw bytes (any other media type) may have none.
      patternProperties: {
        '^application/(.+\\+)?json$': {
          type: 'object',
          required: ['schema'],
          properties: { schema: { type: 'object' } },
        },
      },
      additionalProperties: { type: 'object', properties: { schema: { type: 'object' } } },
    },
  },
};

type Doc = ReturnType<typeof buildOpenApiDocument>;
type OperationObject = {
  operationId: string;
  parameters: { name: string; in: string }[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  security: unknown[];
};

function operation(doc: Doc, method: string, path: string): OperationObject {
  return (doc.paths[path] as Record<string, OperationObject>)[method] as OperationObject;
}

type Schema = Record<string, unknown> & { properties?: Record<string, Record<string, unknown>> };

/** The document a client downloads: GET /openapi.json from a running gateway, no token. */
let doc: Doc;
let served: GatewayHarness;
beforeAll(async () => {
  served = await startGateway({ LOG_LEVEL: 'warn' });
  const res = await fetch(`${served.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Doc;
});
afterAll(async () => {
  await served?.close();
});

function component(name: string): Schema {
  const schema = (doc.components.schemas as Record<string, Schema>)[name];
  expect(schema, name).toBeDefined();
  return schema as Schema;
}

describe('the OpenAPI document the gateway serves at /openapi.json', () => {
  it('has the OpenAPI 3.1 shape and the gateway’s version', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const valid = ajv.validate(openApiShape, doc);
    expect(ajv.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    expect(doc.info.version).toBe('1.2.3');
  });

  it('lists exactly the operations of the shared table (plus the gateway’s /health and /ready)', () => {
    const listed = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const table = allOperations.map(
      (op) => `${op.method} ${op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`,
    );
    expect(listed.sort()).toEqual([...table, 'GET /health', 'GET /ready'].sort());
  });

  it('lists every operation of the shared table with all its responses', () => {
    expect(allOperations.length).toBeGreaterThan(0);
    for (const op of allOperations) {
      const path = op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const found = operation(doc, op.method.toLowerCase(), path);
      expect(found, `${op.method} ${op.path}`).toBeDefined();
      expect(found.operationId).toBe(op.operationId);
      expect(Object.keys(found.responses).sort()).toEqual(Object.keys(op.schema.response).sort());
      // Bearer security exactly on the calls that need a token.
      expect(found.security).toEqual(op.auth ? [{ bearerAuth: [] }] : []);
      for (const name of path.match(/\{([^}]+)\}/g) ?? []) {
        expect(found.parameters).toContainEqual(
          expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }),
        );
      }
      if (op.rawBody) {
        expect(Object.keys(found.requestBody?.content ?? {}).sort()).toEqual(
          Object.keys(op.rawBody).sort(),
        );
      }
      for (const [status, mediaType] of Object.entries(op.rawResponse ?? {})) {
        expect(Object.keys(found.responses[status]?.content ?? {})).toEqual([mediaType]);
        // Arbitrary stored bytes: no schema a client or fuzzer would try to parse them against.
        expect(found.responses[status]?.content?.[mediaType]).toEqual({});
      }
    }
    expect(operationIds(doc)).toEqual([...new Set(operationIds(doc))]);
  });

  it('describes errors with the Problem component and the gateway’s own /health and /ready', () => {
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object' });
    expect(doc.components.securitySchemes.bearerAuth).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    const login = operation(doc, 'post', '/auth/login');
    expect(login.responses['401']?.content?.['application/problem+json']?.schema).toEqual({
      $ref: '#/components/schemas/Problem',
    });
    expect(operation(doc, 'get', '/health')).toBeDefined();
    expect(operation(doc, 'get', '/ready')).toBeDefined();
  });

  it('covers the account lifecycle calls (password change, session revocation, deletion)', () => {
    const password = operation(doc, 'post', '/auth/password');
    expect(Object.keys(password.responses).sort()).toEqual(['204', '400', '401', '429']);
    expect(password.requestBody?.required).toBe(true);
    expect(doc.components.schemas.ChangePasswordRequest).toMatchObject({
      required: ['currentPassword', 'newPassword'],
      additionalProperties: false,
    });
    const revoke = operation(doc, 'delete', '/auth/sessions/{id}');
    expect(Object.keys(revoke.responses).sort()).toEqual(['204', '400', '401', '404']);
    expect(revoke.security).toEqual([{ bearerAuth: [] }]);
    const deletion = operation(doc, 'delete', '/auth/account');
    expect(Object.keys(deletion.responses).sort()).toEqual(['202', '400', '401', '429']);
    expect(deletion.requestBody?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/DeleteAccountRequest',
    });
    expect(deletion.responses['202']?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/AccountDeletion',
    });
    expect(doc.components.schemas.AccountDeletion).toMatchObject({ required: ['deletedAt'] });
  });

  it('resolves every $ref and compiles every schema as JSON Schema 2020-12', () => {
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      expect(doc.components.schemas, name).toHaveProperty(name as string);
    }
    const ajv = new Ajv2020({ strict: false, logger: false });
    ajv.addSchema({ $id: 'doc', components: doc.components }, 'doc');
    const refsToDoc = (node: unknown): unknown =>
      JSON.parse(JSON.stringify(node).replaceAll('"#/components/', '"doc#/components/'));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item as Record<string, OperationObject>)) {
        for (const response of Object.values(op.responses)) {
          for (const media of Object.values(response.content ?? {})) {
            if (media.schema === undefined) continue;
            expect(
              () => ajv.compile(refsToDoc(media.schema) as object),
              `${method} ${path}`,
            ).not.toThrow();
          }
        }
      }
    }
  });
});

function operationIds(doc: Doc): string[] {
  return Object.values(doc.paths).flatMap((item) =>
    Object.values(item as Record<string, OperationObject>).map((op) => op.operationId),
  );
}

describe('docs/api.md, the contract this repository implements', () => {
  it('lists in its tables exactly the calls of the served document', async () => {
    const text = await readFile(new URL('../../../docs/api.md', import.meta.url), 'utf8');
    // Table rows whose first cell is a call: | `METHOD /path` | …
    const documented = [
      ...text.matchAll(/^\|\s*`(GET|HEAD|POST|PUT|DELETE|PATCH) (\/[^`\s]*)`\s*\|/gm),
    ]
      .map(([, method, path]) => `${method} ${(path as string).split('?')[0]}`)
      .sort();
    expect(documented.length).toBeGreaterThan(10);
    expect(new Set(documented).size, 'a call is listed twice').toBe(documented.length);
    const served = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path}`),
      )
      .sort();
    expect(documented).toEqual(served);
  });
});

describe('auth calls in the served document', () => {
  it('take credentials as the Credentials schema: username pattern, bounded password, no extra fields', () => {
    const register = operation(doc, 'post', '/auth/register');
    expect(Object.keys(register.responses).sort()).toEqual(['201', '400', '409', '429', '503']);
    expect(register.requestBody?.content['application/json']).toEqual({
      schema: { $ref: '#/components/schemas/Credentials' },
    });
    const credentials = component('Credentials');
    expect(credentials.properties?.username?.pattern).toBe('^[A-Za-z0-9._@-]{3,64}$');
    expect(credentials.properties?.password?.maxLength).toBe(256);
    expect(credentials.additionalProperties).toBe(false);
    expect(credentials.required).toEqual(['username', 'password']);
  });

  it('let logout take an optional LogoutRequest and answer 204', () => {
    const logout = operation(doc, 'post', '/auth/logout') as OperationObject & {
      requestBody: { required?: boolean; content: Record<string, unknown> };
    };
    expect(logout.requestBody.required).toBe(false);
    expect(logout.requestBody.content['application/json']).toEqual({
      schema: { $ref: '#/components/schemas/LogoutRequest' },
    });
    expect(Object.keys(logout.responses)).toContain('204');
  });

  it('use no regular-expression syntax a JSON Schema validator cannot read (\\p{…})', () => {
    expect(JSON.stringify(doc)).not.toContain('\\p{');
  });
});

describe('sync calls in the served document', () => {
  it('pull with since, limit, wait and the optional generation, and answer 200, 400, 401, 410', () => {
    const changes = operation(doc, 'get', '/sync/changes');
    expect(changes.parameters.map((p) => `${p.in}:${p.name}`).sort()).toEqual([
      'query:generation',
      'query:limit',
      'query:since',
      'query:wait',
    ]);
    expect(Object.keys(changes.responses).sort()).toEqual(['200', '400', '401', '410']);
    expect(component('Changes').properties?.changes?.items).toEqual({
      $ref: '#/components/schemas/Entry',
    });
    // The store generation: optional both ways, so older clients and servers keep working.
    expect(changes.parameters).toContainEqual(
      expect.objectContaining({ name: 'generation', in: 'query', required: false }),
    );
    expect(component('Changes').properties?.generation?.pattern).toBe('^[A-Za-z0-9_-]{1,64}$');
    expect(component('Changes').required).not.toContain('generation');
  });

  it('push a PushRequest of at most 500 changes with ids of the contract, and an Idempotency-Key', () => {
    const push = operation(doc, 'post', '/sync/push');
    expect(push.requestBody?.content['application/json']).toEqual({
      schema: { $ref: '#/components/schemas/PushRequest' },
    });
    expect(push.parameters).toContainEqual(
      expect.objectContaining({ name: 'idempotency-key', in: 'header', required: false }),
    );
    expect(component('PushRequest').properties?.changes?.maxItems).toBe(500);
    expect(component('Change').properties?.id?.pattern).toBe('^[A-Za-z0-9_-]{1,128}$');
  });
});

describe('served by the gateway', () => {
  let gw: GatewayHarness;
  beforeAll(async () => {
    gw = await startGateway({ LOG_LEVEL: 'warn', CORS_ORIGINS: 'https://app.example.com' });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('serves /docs as an HTML page with its assets from the gateway itself', async () => {
    const res = await fetch(`${gw.url}/docs`, { redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    // The page's own CSP: scripts from the gateway only, and the page has no inline script.
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).toContain('swagger-ui');
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
    const scripts = [...html.matchAll(/src="\.?\/?([^"]+\.js)"/g)].map((m) => m[1] as string);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      const asset = await fetch(`${gw.url}/docs/${script.replace(/^docs\//, '')}`);
      expect(asset.status, script).toBe(200);
      expect((await asset.arrayBuffer()).byteLength, script).toBeGreaterThan(100);
    }
    const init = await fetch(`${gw.url}/docs/json`);
    expect(init.status).toBe(200);
    expect(((await init.json()) as Doc).openapi).toBe('3.1.0');
  });

  it('sends security headers', async () => {
    const res = await fetch(`${gw.url}/health`);
    await res.arrayBuffer();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('strict-transport-security')).toBeTruthy();
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('answers a CORS preflight for an allowed origin, exposing the headers clients read', async () => {
    const res = await fetch(`${gw.url}/sync/push`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, idempotency-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('idempotency-key');
    const session = await gw.session();
    const real = await fetch(`${gw.url}/attachments/a1`, {
      headers: { origin: 'https://app.example.com', authorization: `Bearer ${session.token}` },
    });
    expect(real.status).toBe(200);
    await real.arrayBuffer();
    expect(real.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    const exposed = real.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['x-request-id', 'etag', 'content-range', 'retry-after'])
      expect(exposed).toContain(h);
  });

  it('gives no CORS grant to another origin, and the preflight needs no token', async () => {
    const res = await fetch(`${gw.url}/sync/push`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.status).not.toBe(401);
    await res.arrayBuffer();
  });
});

describe('CORS off by default', () => {
  let gw: GatewayHarness;
  beforeAll(async () => {
    gw = await startGateway({ LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('sends no CORS headers when CORS_ORIGINS is empty', async () => {
    const res = await fetch(`${gw.url}/health`, { headers: { origin: 'https://app.example.com' } });
    await res.arrayBuffer();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
