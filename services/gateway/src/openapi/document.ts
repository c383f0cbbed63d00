import { allOperations, type Operation, problemSchema } from '@journal/shared';
import { z } from 'zod';

type JsonSchema = Record<string, unknown>;

/**
 * Converts a zod schema to JSON Schema 2020-12 (what OpenAPI 3.1 uses), moving named schemas
 * (`.meta({ id })`) into `components.schemas` and pointing references there.
 */
function toSchema(
  schema: z.ZodType,
  io: 'input' | 'output',
  components: Record<string, JsonSchema>,
): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as JsonSchema;
  const defs = (json.$defs ?? {}) as Record<string, JsonSchema>;
  delete json.$defs;
  delete json.$schema;
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) {
        out[k] =
          k === '$ref' && typeof v === 'string'
            ? v.replace('#/$defs/', '#/components/schemas/')
            : rewrite(v);
      }
      return out;
    }
    return node;
  };
  for (const [name, def] of Object.entries(defs)) components[name] ??= rewrite(def) as JsonSchema;
  const { id, ...rest } = rewrite(json) as JsonSchema;
  if (typeof id === 'string') {
    components[id] ??= rest;
    return { $ref: `#/components/schemas/${id}` };
  }
  return rest;
}

function parameters(
  schema: z.ZodType | undefined,
  where: 'query' | 'path' | 'header',
  components: Record<string, JsonSchema>,
) {
  if (!schema) return [];
  const json = toSchema(schema, 'input', components);
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...schemaOnly } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: schemaOnly,
    };
  });
}

function operationObject(op: Operation, components: Record<string, JsonSchema>) {
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(op.schema.response)) {
    const code = Number(status);
    const description =
      schema.description ?? (code < 400 ? 'Success' : 'Problem document (RFC 9457)');
    const raw = op.rawResponse?.[code];
    if (code === 204 || code === 304) responses[status] = { description };
    else if (raw) {
      // Content of any type, served back as it was stored: OpenAPI 3.1 describes such a body
      // with an empty media type object, since no JSON Schema applies to arbitrary bytes.
      responses[status] = { description, content: { [raw]: {} } };
    } else {
      const mediaType =
        schema === problemSchema || code >= 400 ? 'application/problem+json' : 'application/json';
      responses[status] = {
        description,
        content: { [mediaType]: { schema: toSchema(schema, 'output', components) } },
      };
    }
  }
  const requestBody = op.rawBody
    ? {
        required: true,
        content: Object.fromEntries(
          Object.entries(op.rawBody).map(([mediaType, description]) => [
            mediaType,
            { schema: { type: 'string', format: 'binary', description } },
          ]),
        ),
      }
    : op.schema.body
      ? {
          required: !op.schema.body.safeParse(undefined).success,
          content: {
            'application/json': { schema: toSchema(op.schema.body, 'input', components) },
          },
        }
      : undefined;
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    tags: op.tags,
    parameters: [
      ...parameters(op.schema.params, 'path', components),
      ...parameters(op.schema.querystring, 'query', components),
      ...parameters(op.schema.headers, 'header', components),
    ],
    ...(requestBody ? { requestBody } : {}),
    responses,
    security: op.auth ? [{ bearerAuth: [] }] : [],
  };
}

/** The whole public API as one OpenAPI 3.1 document, from the schemas the services validate with. */
export function buildOpenApiDocument(version: string, operations: Operation[] = allOperations) {
  const components: Record<string, JsonSchema> = {};
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = op.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[op.method.toLowerCase()] = operationObject(
      op,
      components,
    );
  }
  const health = {
    tags: ['operations'],
    security: [],
    responses: {
      '200': {
        description: 'OK',
        content: {
          'application/json': {
            schema: {
              type: 'object',
              properties: { status: { type: 'string' } },
              required: ['status'],
            },
          },
        },
      },
      '503': {
        description: 'Not ready',
        content: {
          'application/problem+json': { schema: toSchema(problemSchema, 'output', components) },
        },
      },
    },
  };
  paths['/health'] = {
    get: { operationId: 'health', summary: 'Liveness of the gateway', ...health },
  };
  paths['/ready'] = {
    get: {
      operationId: 'ready',
      summary: 'Readiness of the gateway: Redis answers (never the upstream services)',
      ...health,
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'journal API',
      version,
      description:
        'Sync journal entries and attachments across devices. Errors are RFC 9457 problem documents.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
