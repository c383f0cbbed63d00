import { z } from 'zod';

/** Ids chosen by clients (entry ids, attachment ids), as docs/api.md defines them. */
export const clientId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, { error: 'must be 1-128 characters of A-Z a-z 0-9 _ -' });

/** An RFC 9457 problem document as every error response carries it. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .loose()
  .meta({ id: 'Problem' });

/**
 * One public API call: the service registers its route with `schema`, and the gateway builds
 * the OpenAPI document from the same object, so the two cannot drift.
 */
export interface Operation {
  operationId: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'PATCH';
  /** Fastify path syntax, e.g. `/attachments/:id`. */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Needs `Authorization: Bearer <accessToken>`. */
  auth: boolean;
  schema: {
    body?: z.ZodType;
    querystring?: z.ZodType;
    params?: z.ZodType;
    headers?: z.ZodType;
    /** Status code → schema; error statuses use `problemSchema`. */
    response: Record<number, z.ZodType>;
  };
  /** Non-JSON request body (e.g. raw bytes for an upload): media type → description. */
  rawBody?: Record<string, string>;
  /** Non-JSON success response (e.g. attachment bytes): status → media type. */
  rawResponse?: Record<number, string>;
  /**
   * Largest request body in bytes, enforced by the service and, on the declared
   * Content-Length, by the gateway before anything is proxied. `configured`: the deployment's
   * setting (ATTACHMENTS_MAX_BYTES for uploads). Absent: `DEFAULT_BODY_LIMIT_BYTES`.
   */
  bodyLimit?: number | 'configured';
}

/** The body limit of a call that declares none (and of every service's JSON parser). */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The operations of one service, with `defaults` for what an operation leaves out (e.g. every
 * auth call's body limit), so an operation added later gets them too.
 */
export function defineOperations<T extends Record<string, Operation>>(
  ops: T,
  defaults: Pick<Operation, 'bodyLimit'> = {},
): T {
  for (const op of Object.values(ops)) {
    if (op.bodyLimit === undefined && defaults.bodyLimit !== undefined) {
      op.bodyLimit = defaults.bodyLimit;
    }
  }
  return ops;
}
