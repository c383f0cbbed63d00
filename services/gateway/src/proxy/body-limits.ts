import { ProblemError } from '@journal/shared';
import type { FastifyRequest } from 'fastify';
import type { OperationMatcher } from '../operations.js';

/**
 * Refuses a declared Content-Length over the call's limit (the operation table's, the same the
 * services enforce) before anything is proxied: an upstream that answers 413 before reading the
 * body closes the connection, which would otherwise reach the client as a 502.
 */
export function createBodyLimitCheck(matcher: OperationMatcher) {
  return async function checkDeclaredLength(request: FastifyRequest): Promise<void> {
    const declared = request.headers['content-length'];
    if (declared === undefined) return;
    const length = Number(declared);
    if (Number.isFinite(length) && length > matcher.forRequest(request).bodyLimit) {
      throw new ProblemError(
        'payload_too_large',
        'the request body is larger than this call accepts',
      );
    }
  };
}
