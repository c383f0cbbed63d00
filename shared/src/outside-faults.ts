import { Counter, type Metric, type Registry } from 'prom-client';

/**
 * What keeps an outside fault (a third-party host that is unresolvable, black-holed, slow, or
 * answering 5xx or garbage) inside the operation that needs it (docs/operations.md, "Outside
 * dependencies"): a bounded wait (`withDeadline`), an error that names the dependency without
 * carrying the request (`DependencyError`: no headers, no signatures), and process-wide counters
 * every service exports on its metrics listener (`registerProcessMetrics`, called by runService).
 *
 * The counters are created once per process, registered in no registry of their own, and added
 * to the service's registry at start-up, so modules loaded before the app exists (tracing) can
 * count too.
 */

/** The third-party dependencies a process may call (never MongoDB or Redis: readiness covers those). */
export const OUTSIDE_DEPENDENCIES = ['qiniu', 'otlp', 'jwks'] as const;
export type OutsideDependency = (typeof OUTSIDE_DEPENDENCIES)[number];

export const dependencyFailures = new Counter({
  name: 'dependency_failures_total',
  help: 'Calls to an outside dependency (qiniu, otlp, jwks) that failed: unresolvable, refused, timed out, 5xx or a reply that is not what was expected',
  labelNames: ['dependency'] as const,
  registers: [],
});

export const strayErrors = new Counter({
  name: 'process_stray_errors_total',
  help: 'Rejections nobody handled and exceptions nobody caught (logged, not fatal), by kind',
  labelNames: ['kind'] as const,
  registers: [],
});

export const jobFailures = new Counter({
  name: 'background_job_failures_total',
  help: 'Failed runs of a periodic background job (retried later with backoff), by job',
  labelNames: ['job'] as const,
  registers: [],
});

const PROCESS_METRICS: { name: string; metric: Metric }[] = [
  { name: 'dependency_failures_total', metric: dependencyFailures as Metric },
  { name: 'process_stray_errors_total', metric: strayErrors as Metric },
  { name: 'background_job_failures_total', metric: jobFailures as Metric },
];

/**
 * Adds the process-wide counters to `registry` (once), with a zero series for each dependency a
 * process of this kind may call, so dashboards and alerts find the series before any failure.
 */
export function registerProcessMetrics(
  registry: Registry,
  dependencies: readonly OutsideDependency[] = ['otlp', 'jwks'],
): void {
  for (const { name, metric } of PROCESS_METRICS) {
    if (!registry.getSingleMetric(name)) registry.registerMetric(metric);
  }
  for (const dependency of dependencies) dependencyFailures.inc({ dependency }, 0);
  strayErrors.inc({ kind: 'unhandledRejection' }, 0);
  strayErrors.inc({ kind: 'uncaughtException' }, 0);
}

/** A failed call to an outside dependency: the dependency and one line of what happened. */
export class DependencyError extends Error {
  readonly dependency: OutsideDependency;
  constructor(dependency: OutsideDependency, message: string) {
    super(message);
    this.name = 'DependencyError';
    this.dependency = dependency;
  }
}

/** The first line of an error's message (SDK messages append request dumps), at most 300 chars. */
export function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? '').slice(0, 300);
}

/**
 * An error as a log line may carry it: its type, the first line of its message and its stack
 * frames. SDK errors append a dump of the request (headers with signatures) to the message and
 * keep the request on the object: neither is logged.
 */
export function loggableError(err: unknown): { type: string; message: string; stack?: string } {
  const type = err instanceof Error ? err.name : typeof err;
  const frames =
    err instanceof Error && err.stack
      ? err.stack
          .split('\n')
          .filter((line) => /^\s+at /.test(line))
          .join('\n')
      : '';
  return { type, message: firstLine(err), ...(frames ? { stack: frames } : {}) };
}

/**
 * Counts a failure of `dependency` and returns it as a `DependencyError` (to throw), whatever
 * `err` was: an SDK error object is reduced to its first line, so no request header reaches a log.
 */
export function dependencyFailed(
  dependency: OutsideDependency,
  what: string,
  err: unknown,
): DependencyError {
  dependencyFailures.inc({ dependency });
  if (err instanceof DependencyError) return err;
  return new DependencyError(dependency, `${what}: ${firstLine(err)}`);
}

/**
 * `promise`, or a rejection after `ms`: an outside call never holds its caller longer, even when
 * the SDK's own timeouts do not cover a stage (DNS, a connect that is never answered). The call
 * itself is not cancelled; its late outcome is ignored.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  // The losing side's rejection must not become a stray one.
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
