import { isSpanContextValid, trace } from '@opentelemetry/api';
import { type LoggerOptions, pino } from 'pino';
import { tracingConfigured } from './tracing.js';

/**
 * Paths redacted from every log line: credentials in headers, bodies and config.
 * Request bodies are never logged by the shared plugins; these paths protect the places
 * where a handler might log an object that carries one.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-upstream-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'password',
  'newPassword',
  'currentPassword',
  'accessToken',
  'refreshToken',
  'token',
  'privateKey',
  'secret',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.accessToken',
  '*.refreshToken',
  '*.token',
  '*.privateKey',
  '*.secret',
  '*.authorization',
  'config.JWT_PRIVATE_KEY',
  'config.QINIU_SECRET_KEY',
  'config.MONGODB_URL',
  'config.REDIS_URL',
  'config.REDIS_PASSWORD',
  'config.REDIS_SENTINEL_PASSWORD',
];

/** The active span's ids, so a log line leads to its trace (and back). */
function traceFields(): Record<string, string> {
  const context = trace.getActiveSpan()?.spanContext();
  if (!context || !isSpanContextValid(context)) return {};
  return { trace_id: context.traceId, span_id: context.spanId };
}

export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    // With tracing on, every line written inside a span carries trace_id and span_id.
    ...(tracingConfigured() ? { mixin: traceFields } : {}),
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    redact: { paths: redactPaths, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
}

export function createLogger(
  service: string,
  level = 'info',
  destination?: pino.DestinationStream,
): pino.Logger {
  return destination
    ? pino(loggerOptions(service, level), destination)
    : pino(loggerOptions(service, level));
}

export type Logger = pino.Logger;

/**
 * Warnings about a dependency that fails the same way on every call or retry (ioredis emits the
 * same error on each reconnect): each distinct message is logged once, until `reset()` (the
 * dependency answered again) re-arms it. Returns whether anything was logged since the last reset.
 */
export function distinctWarnings(logger: Logger | undefined) {
  let last = '';
  return {
    warn(err: unknown, what: string): void {
      const message = err instanceof Error ? err.message : String(err);
      if (message === last) return;
      last = message;
      logger?.warn({ err: message }, what);
    },
    reset(): boolean {
      const had = last !== '';
      last = '';
      return had;
    },
  };
}
