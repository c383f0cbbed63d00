import {
  attachmentsUsageSchema,
  entriesUsageSchema,
  ProblemError,
  problemCodes,
  sendProblem,
  type Usage,
  usageOperations,
} from '@journal/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from './config.js';
import { upstreamProblem } from './proxy/upstreams.js';

/** Largest upstream reply read (two small JSON objects; anything bigger is not a usage reply). */
const MAX_REPLY_BYTES = 64 * 1024;

type Part = { ok: true; body: Record<string, unknown> } | { ok: false; problem: ProblemError };

/** An upstream's own problem document, passed on as it is (401, 403, 503 …). */
function passedOn(status: number, body: unknown, upstream: string): ProblemError {
  const doc = (body ?? {}) as { code?: unknown; detail?: unknown };
  const code =
    typeof doc.code === 'string' && doc.code in problemCodes
      ? (doc.code as keyof typeof problemCodes)
      : null;
  if (!code || status < 400) {
    return new ProblemError('upstream_unavailable', `the ${upstream} service failed to answer`, {
      status: 502,
    });
  }
  return new ProblemError(code, typeof doc.detail === 'string' ? doc.detail : undefined, {
    status,
  });
}

/**
 * `GET /usage` (docs/api.md): the caller's usage against each quota, from `GET /sync/usage` and
 * `GET /storage/usage`, asked at once with the caller's own token (the services verify it as
 * for any call). Registered inside the gateway's routed scope, so the token and session check
 * and the rate limit apply as to every other call.
 */
export async function registerUsage(app: FastifyInstance, config: Config) {
  const op = usageOperations.usage;

  async function ask(
    request: FastifyRequest,
    upstream: 'sync' | 'attachments',
    base: string,
    path: string,
    schema: typeof entriesUsageSchema | typeof attachmentsUsageSchema,
  ): Promise<Part> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-request-id': String(request.id),
      'x-forwarded-for': request.ip,
    };
    const authorization = request.headers.authorization;
    if (authorization) headers.authorization = authorization;
    try {
      const response = await fetch(new URL(path, base), {
        headers,
        signal: AbortSignal.timeout(config.UPSTREAM_TIMEOUT_MS),
      });
      const text = await response.text();
      if (text.length > MAX_REPLY_BYTES) throw new Error('reply too large');
      let body: unknown = null;
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
      if (response.status === 200) {
        // Checked against the contract: a reply of another shape is the upstream's fault (502).
        const parsed = schema.safeParse(body);
        if (parsed.success) return { ok: true, body: parsed.data };
        request.log.warn({ upstream }, 'usage: the upstream answered another shape');
        return { ok: false, problem: passedOn(200, null, upstream) };
      }
      return { ok: false, problem: passedOn(response.status, body, upstream) };
    } catch (err) {
      const error = err as Error;
      request.log.warn({ err: error.message, upstream }, 'usage: upstream call failed');
      const timedOut = error.name === 'TimeoutError' || error.name === 'AbortError';
      return {
        ok: false,
        problem: timedOut
          ? new ProblemError(
              'upstream_unavailable',
              `the ${upstream} service did not answer in time`,
              {
                status: 504,
              },
            )
          : upstreamProblem(
              Object.assign(error, { code: (error.cause as { code?: string })?.code }),
              upstream,
            ),
      };
    }
  }

  app.get(op.path, async (request: FastifyRequest, reply: FastifyReply) => {
    const [entries, attachments] = await Promise.all([
      ask(request, 'sync', config.SYNC_URL, usageOperations.syncUsage.path, entriesUsageSchema),
      ask(
        request,
        'attachments',
        config.ATTACHMENTS_URL,
        usageOperations.storageUsage.path,
        attachmentsUsageSchema,
      ),
    ]);
    // A refusal of the caller (401) wins over an outage of the other service.
    const failed = [entries, attachments].filter((p) => !p.ok);
    if (failed.length > 0) {
      const problems = failed.map((p) => (p.ok ? null : p.problem)) as ProblemError[];
      const first = problems.find((p) => p.statusCode < 500) ?? (problems[0] as ProblemError);
      return sendProblem(reply, first);
    }
    const body = {
      ...(entries.ok ? entries.body : {}),
      ...(attachments.ok ? attachments.body : {}),
    } as Usage;
    return reply.code(200).send(body);
  });
}
