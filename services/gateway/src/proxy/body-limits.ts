import { AUTH_LIMITS, ProblemError, SYNC_LIMITS } from '@journal/shared';
import type { FastifyRequest } from 'fastify';

const KiB = 1024;

/**
 * The largest body each call accepts, the same limits the services enforce. The gateway refuses
 * a larger declared Content-Length itself: an upstream that answers 413 before reading the body
 * closes the connection, which would otherwise reach the client as a 502.
 */
export function bodyLimitFor(method: string, path: string, attachmentsMaxBytes: number): number {
  if (path.startsWith('/auth/')) return AUTH_LIMITS.maxBodyBytes;
  if (path === '/sync/push') return SYNC_LIMITS.maxPushBytes;
  if (method === 'PUT' && path.startsWith('/attachments/')) return attachmentsMaxBytes;
  if (path.startsWith('/storage/')) return 64 * KiB;
  return 1024 * KiB;
}

export function createBodyLimitCheck(attachmentsMaxBytes: number) {
  return async function checkDeclaredLength(request: FastifyRequest): Promise<void> {
    const declared = request.headers['content-length'];
    if (declared === undefined) return;
    const length = Number(declared);
    const query = request.url.indexOf('?');
    const path = query === -1 ? request.url : request.url.slice(0, query);
    if (
      Number.isFinite(length) &&
      length > bodyLimitFor(request.method, path, attachmentsMaxBytes)
    ) {
      throw new ProblemError(
        'payload_too_large',
        'the request body is larger than this call accepts',
      );
    }
  };
}
