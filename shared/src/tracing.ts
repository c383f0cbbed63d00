/**
 * OpenTelemetry tracing, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. This module imports nothing of OpenTelemetry
 * itself: without the variable no SDK or instrumentation is ever loaded.
 *
 * It must run before fastify, undici, mongodb or ioredis are loaded, so that their
 * instrumentations can patch them: each service's main.ts awaits `startTracing` and only then
 * imports the rest of the service (dynamic imports). What gets traced: incoming HTTP (server
 * spans, W3C `traceparent` read), fastify's routing and hooks, outgoing HTTP through undici and
 * node:http (the gateway's proxy, `traceparent` injected), MongoDB commands and Redis commands.
 * Spans go over OTLP/HTTP (JSON) to `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`; the other
 * standard `OTEL_*` variables (headers, sampler, batch delays, resource attributes) apply.
 *
 * The collector is an outside dependency like any other (docs/operations.md): an export that
 * fails (unresolvable, refused, timed out after OTEL_EXPORTER_OTLP_TIMEOUT, 10 s by default, or
 * a 5xx, or a connect never answered for as long) drops its batch and counts
 * `dependency_failures_total{dependency="otlp"}`; the batch
 * queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE, 2048 spans), and at shutdown the last flush waits
 * at most FLUSH_AT_SHUTDOWN_MS. Nothing of it reaches a request.
 */

import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/** The longest the last flush of spans may hold a shutdown (a black-holed collector). */
export const FLUSH_AT_SHUTDOWN_MS = 3_000;

export interface Tracing {
  /** Sends the spans still buffered and stops; called after the app closed. */
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** Whether `startTracing` would trace with this environment. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts tracing for `service` when configured (else resolves undefined at once). The service
 * name is `OTEL_SERVICE_NAME`, by default `journal-<service>`.
 */
export async function startTracing(
  service: string,
  version?: string,
): Promise<Tracing | undefined> {
  if (active) return active;
  if (!tracingConfigured()) return undefined;

  // ESM modules imported from now on go through import-in-the-middle, limited to the modules
  // an instrumentation asks for; CommonJS ones (fastify, mongodb, ioredis) through
  // require-in-the-middle. Both must be in place before those modules load.
  const { register } = await import('node:module');
  const { createAddHookMessageChannel } = await import('import-in-the-middle');
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

  const [
    { NodeTracerProvider },
    { BatchSpanProcessor },
    { OTLPTraceExporter },
    { resourceFromAttributes, detectResources, envDetector },
    { registerInstrumentations },
    { HttpInstrumentation },
    { UndiciInstrumentation },
    { MongoDBInstrumentation },
    { IORedisInstrumentation },
    { FastifyOtelInstrumentation },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/instrumentation'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-undici'),
    import('@opentelemetry/instrumentation-mongodb'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@fastify/otel'),
  ]);

  const resource = resourceFromAttributes({
    'service.name': process.env.OTEL_SERVICE_NAME || `journal-${service}`,
    'service.namespace': 'journal',
    ...(version ? { 'service.version': version } : {}),
  }).merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(countingExporter(new OTLPTraceExporter()))],
  });
  // The global tracer provider, AsyncLocalStorage context and W3C trace-context propagation.
  provider.register();

  const ignored = new Set(['/health', '/ready', '/metrics']);
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes would be most of the traces and tell nothing.
        ignoreIncomingRequestHook: (req) => ignored.has((req.url ?? '').split('?')[0] ?? ''),
      }),
      // Store and outgoing calls only inside a request's trace: readiness pings (at every probe
      // and scrape) and timers would otherwise each start a trace of one span.
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new MongoDBInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (route) => ignored.has(route.url),
      }),
    ],
  });
  await waitForAllMessagesAcknowledged();

  active = {
    async shutdown() {
      active = undefined;
      await provider.shutdown();
    },
  };
  return active;
}

type ExportDone = Parameters<SpanExporter['export']>[1];
type ExportResult = Parameters<ExportDone>[0];

/** The exporter's own timeout (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / _TIMEOUT, 10 s by default). */
function exportTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT);
  return Number.isFinite(value) && value > 0 ? value : 10_000;
}

/**
 * `exporter`, counting each export that fails as a failure of the collector, and ending an
 * export that takes longer than the exporter's timeout (+1 s) as failed: Node starts a request's
 * timeout only once its socket has connected, so a black-holed collector (a connect never
 * answered) would otherwise hold each export until the kernel gives up, minutes later, unseen.
 */
function countingExporter(exporter: SpanExporter): SpanExporter {
  const deadlineMs = exportTimeoutMs() + 1_000;
  const countFailure = () => {
    // The counter's module (prom-client loads node:http) is imported only now, long after the
    // instrumentations were in place.
    import('./outside-faults.js').then(
      (m) => m.dependencyFailures.inc({ dependency: 'otlp' }),
      () => {},
    );
  };
  return {
    export(spans, done) {
      let settled = false;
      const finish = (result: ExportResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // ExportResultCode.SUCCESS is 0 (@opentelemetry/core, not loaded here for one constant).
        if (result.code !== 0) countFailure();
        done(result);
      };
      const timer = setTimeout(() => {
        finish({
          code: 1,
          error: new Error(`OTLP export took over ${deadlineMs} ms`),
        } as ExportResult);
      }, deadlineMs);
      timer.unref();
      exporter.export(spans, finish);
    },
    shutdown: () => exporter.shutdown(),
    ...(exporter.forceFlush
      ? { forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve() }
      : {}),
  };
}

/**
 * Flushes and stops tracing if it was started (runService calls it on shutdown), waiting at
 * most FLUSH_AT_SHUTDOWN_MS for a collector that does not answer.
 */
export async function stopTracing(): Promise<void> {
  if (!active) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`flushing traces took over ${FLUSH_AT_SHUTDOWN_MS} ms`)),
      FLUSH_AT_SHUTDOWN_MS,
    );
    timer.unref();
  });
  const shutdown = active.shutdown();
  shutdown.catch(() => {});
  await Promise.race([shutdown, late]).finally(() => clearTimeout(timer));
}
