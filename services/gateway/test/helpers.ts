import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connectRedis, loadConfig, type Redis, sessionKey } from '@journal/shared';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  captureLogger,
  redisUrl,
  signTestToken,
  type TestKeys,
  testKeys,
  testRedis,
  uniqueName,
} from '../../../test-support/index.js';
import { buildApp, redisOptions } from '../src/app.js';
import { configSchema } from '../src/config.js';

export type UpstreamName = 'auth' | 'sync' | 'attachments';

export interface Upstream {
  name: UpstreamName;
  app: FastifyInstance;
  url: string;
  port: number;
  /** Requests this upstream has seen (method, url, headers). */
  seen: { method: string; url: string; headers: Record<string, unknown> }[];
  /** Requests being answered now, and the most at once so far. */
  load: { inFlight: number; maxInFlight: number };
  close(): Promise<void>;
  /** Listens again on the same port after close(). */
  restart(): Promise<void>;
}

const MiB = 1024 * 1024;

/** Deterministic bytes for big bodies: block i is filled with (i % 251). */
export function* blocks(totalBytes: number, blockBytes = 64 * 1024): Generator<Buffer> {
  let sent = 0;
  let i = 0;
  while (sent < totalBytes) {
    const n = Math.min(blockBytes, totalBytes - sent);
    yield Buffer.alloc(n, i++ % 251);
    sent += n;
  }
}

export function sha256Of(totalBytes: number): string {
  const hash = createHash('sha256');
  for (const b of blocks(totalBytes)) hash.update(b);
  return hash.digest('hex');
}

/**
 * A small real upstream standing in for a service: echoes what it received (method, url,
 * headers, body digest) without buffering bodies, and has slow and big routes.
 */
function upstreamApp(
  name: UpstreamName,
  seen: Upstream['seen'],
  load: Upstream['load'],
): FastifyInstance {
  const app = Fastify({ logger: false, keepAliveTimeout: 70_000 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  // The service's own operational routes: they must never be reachable through the gateway.
  // Recorded in `seen` too, so a test can tell the gateway never calls them (not even /ready).
  for (const path of ['/health', '/ready', '/metrics', '/.well-known/jwks.json']) {
    app.get(path, async (request) => {
      seen.push({ method: request.method, url: request.url, headers: { ...request.headers } });
      return { internal: path, upstream: name };
    });
  }

  app.get('/attachments/big', async (request, reply) => {
    const bytes = Number((request.query as { bytes?: string }).bytes ?? MiB);
    const { Readable } = await import('node:stream');
    reply.header('content-type', 'application/octet-stream');
    reply.header('content-length', String(bytes));
    return reply.send(Readable.from(blocks(bytes)));
  });

  app.addHook('onRequest', async () => {
    load.inFlight++;
    load.maxInFlight = Math.max(load.maxInFlight, load.inFlight);
  });
  app.addHook('onResponse', async () => {
    load.inFlight--;
  });

  app.all('/*', async (request, reply) => {
    seen.push({ method: request.method, url: request.url, headers: { ...request.headers } });
    const hash = createHash('sha256');
    let bytes = 0;
    const body = request.body as NodeJS.ReadableStream | undefined;
    if (body && typeof (body as NodeJS.ReadableStream).on === 'function') {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
    }
    const query = new URL(request.url, 'http://x').searchParams;
    // ?delay=<ms>: answer late (timeouts, long-polls).
    if (query.has('delay')) await new Promise((r) => setTimeout(r, Number(query.get('delay'))));
    // ?destroy=1: drop the connection without an answer (a crashing upstream).
    if (query.has('destroy')) {
      request.raw.socket.destroy();
      return reply;
    }
    if (query.has('status')) {
      reply.code(Number(query.get('status')));
    }
    reply.header('etag', '"echo"');
    reply.header('x-powered-by-upstream', name);
    return {
      upstream: name,
      method: request.method,
      url: request.url,
      headers: request.headers,
      ip: request.ip,
      bytes,
      sha256: hash.digest('hex'),
    };
  });
  return app;
}

export async function startUpstream(name: UpstreamName, port = 0): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const load = { inFlight: 0, maxInFlight: 0 };
  let app = upstreamApp(name, seen, load);
  await app.listen({ host: '127.0.0.1', port });
  const actual = (app.server.address() as AddressInfo).port;
  const upstream: Upstream = {
    name,
    app,
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    seen,
    load,
    async close() {
      app.server.closeAllConnections();
      await upstream.app.close();
    },
    async restart() {
      app = upstreamApp(name, seen, load);
      upstream.app = app;
      await app.listen({ host: '127.0.0.1', port: actual });
    },
  };
  return upstream;
}

export interface GatewayHarness {
  url: string;
  redis: Redis;
  keyPrefix: string;
  keys: TestKeys;
  upstreams: Record<UpstreamName, Upstream>;
  lines: () => string[];
  app: Awaited<ReturnType<typeof buildApp>>;
  /** Writes a live session into Redis (as auth does) and signs a token for it. */
  session(userId?: string, claims?: { expiresIn?: number | string }): Promise<Session>;
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface Session {
  userId: string;
  sessionId: string;
  token: string;
}

/**
 * The gateway built with `buildApp` and listening on a free port, in front of three small
 * real upstreams, on the run's real Redis (a key prefix of its own).
 */
export async function startGateway(
  extraEnv: Record<string, string> = {},
  options: { redisUrl?: string; upstreams?: Partial<Record<UpstreamName, Upstream>> } = {},
): Promise<GatewayHarness> {
  const raw = await testRedis('gateway');
  const url = options.redisUrl ?? redisUrl();
  const redis = await connectRedis(url, {
    connectTimeoutMs: 30_000,
    options: redisOptions(raw.keyPrefix),
  });
  const keys = await testKeys();
  const ups = {
    auth: options.upstreams?.auth ?? (await startUpstream('auth')),
    sync: options.upstreams?.sync ?? (await startUpstream('sync')),
    attachments: options.upstreams?.attachments ?? (await startUpstream('attachments')),
  };
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    REDIS_URL: url,
    REDIS_KEY_PREFIX: raw.keyPrefix,
    JWT_PUBLIC_KEYS: keys.jwks,
    AUTH_URL: ups.auth.url,
    SYNC_URL: ups.sync.url,
    ATTACHMENTS_URL: ups.attachments.url,
    ...extraEnv,
  };
  const config = loadConfig(configSchema, env);
  const { logger, lines } = captureLogger('gateway', config.LOG_LEVEL);
  const app = await buildApp({ config, logger, redis, version: '1.2.3' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    redis,
    keyPrefix: raw.keyPrefix,
    keys,
    upstreams: ups,
    lines,
    app,
    env,
    async session(userId = uniqueName('user'), claims = {}) {
      const sessionId = randomBytes(12).toString('hex');
      await redis.set(sessionKey(sessionId), JSON.stringify({ userId }), 'EX', 3600);
      const token = await signTestToken(keys, { sub: userId, sid: sessionId, ...claims });
      return { userId, sessionId, token };
    },
    async close() {
      await app.close();
      for (const u of Object.values(ups)) await u.close().catch(() => {});
      redis.disconnect();
      await raw.cleanup();
    },
  };
}

export async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}
