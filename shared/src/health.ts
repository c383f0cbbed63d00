import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { problemDocument } from './errors.js';

export type ReadinessCheck = () => Promise<void>;

export interface HealthOptions {
  service: string;
  version: string;
  /** Named checks run by GET /ready, e.g. `{ mongodb, redis }`. */
  checks: Record<string, ReadinessCheck>;
  /** Each check fails when it takes longer than this. */
  checkTimeoutMs?: number;
}

function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Runs every check at once; returns the state of each. */
export async function runChecks(
  checks: Record<string, ReadinessCheck>,
  timeoutMs: number,
): Promise<Record<string, 'ok' | 'failed'>> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(
    names.map((name) => withTimeout(checks[name] as ReadinessCheck, timeoutMs)),
  );
  return Object.fromEntries(
    names.map((n, i) => [n, results[i]?.status === 'fulfilled' ? 'ok' : 'failed']),
  );
}

/** `GET /health` (liveness) and `GET /ready` (readiness: every check must pass). */
export const healthPlugin = fp(
  async (app: FastifyInstance, opts: HealthOptions) => {
    const timeoutMs = opts.checkTimeoutMs ?? 2_000;
    let shuttingDown = false;
    app.addHook('preClose', async () => {
      shuttingDown = true;
    });

    // journal_dependency_up: each readiness check run again at every scrape (1 = it passed), so
    // the "MongoDB/Redis unreachable" alert sees what readiness sees, probed or not.
    if (app.hasDecorator('metrics') && Object.keys(opts.checks).length > 0) {
      new Gauge({
        name: 'journal_dependency_up',
        help: 'Whether the readiness check of a dependency (mongodb, redis, …) passes: 1 or 0',
        labelNames: ['dependency'] as const,
        registers: [app.metrics],
        async collect() {
          const states = await runChecks(opts.checks, timeoutMs);
          for (const [dependency, state] of Object.entries(states)) {
            this.set({ dependency }, state === 'ok' ? 1 : 0);
          }
        },
      });
    }

    app.get('/health', { schema: { hide: true } }, async () => ({
      status: 'ok',
      service: opts.service,
      version: opts.version,
    }));

    app.get('/ready', { schema: { hide: true } }, async (request, reply) => {
      const checks = await runChecks(opts.checks, timeoutMs);
      const failed = Object.entries(checks)
        .filter(([, state]) => state === 'failed')
        .map(([name]) => name);
      if (shuttingDown) failed.push('shutdown');
      if (failed.length === 0) return { status: 'ready', service: opts.service, checks };
      request.log.warn({ failed }, 'readiness check failed');
      return reply
        .code(503)
        .type('application/problem+json')
        .send(
          problemDocument('not_ready', `not ready: ${failed.join(', ')}`, {
            extensions: { checks, failed },
          }),
        );
    });
  },
  { name: 'journal-health', fastify: '5.x' },
);
