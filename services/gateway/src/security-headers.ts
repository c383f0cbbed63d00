import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * The security headers helmet sets with `options`, computed once. With no per-request parts
 * (no CSP nonces), helmet's output is the same for every response, so the gateway sets this
 * fixed set instead of running helmet's middleware on every request.
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
    getHeader(name: string) {
      return headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (err?: unknown) => {
    failure = err;
  });
  if (failure) throw failure;
  return headers;
}

/** An onRequest hook setting `headers` on every reply (a proxied one included). */
export function securityHeadersHook(headers: Record<string, string>) {
  return async function setSecurityHeaders(_request: FastifyRequest, reply: FastifyReply) {
    reply.headers(headers);
  };
}
