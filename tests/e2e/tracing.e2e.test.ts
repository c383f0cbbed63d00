import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startProcess, waitForPort } from '../../scripts/lib/proc.js';
import { metricsPort, SERVICES, type StackOptions, serviceEnv } from '../../scripts/lib/stack.js';
import { ROOT } from '../../scripts/lib/tools.js';
import { type Account, client, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/** The stack's metrics ports, service by service. */
function metricsPorts(options: StackOptions) {
  return Object.fromEntries(SERVICES.map((s) => [s, metricsPort(s, options)])) as Record<
    (typeof SERVICES)[number],
    number
  >;
}

/** One span as the OTLP/HTTP JSON exporter sends it, with its resource's service name. */
interface Span {
  service: string;
  scope: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpExport {
  resourceSpans?: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: {
      scope: { name: string };
      spans: {
        name: string;
        kind: number;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

const SERVER = 2;
const CLIENT = 3;

const attrs = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(
    list.map((a) => [
      a.key,
      a.value.stringValue ?? a.value.intValue ?? a.value.boolValue ?? a.value.doubleValue,
    ]),
  );

/** An OTLP/HTTP receiver: POST /v1/traces with the JSON encoding, spans kept in order. */
async function otlpReceiver() {
  const spans: Span[] = [];
  const contentTypes = new Set<string>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.add(String(req.headers['content-type']));
      const body = JSON.parse(Buffer.concat(chunks).toString()) as OtlpExport;
      for (const rs of body.resourceSpans ?? []) {
        const service = String(attrs(rs.resource.attributes)['service.name']);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              service,
              scope: ss.scope.name,
              name: s.name,
              kind: s.kind,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              attributes: attrs(s.attributes),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
let stack: TestStack;
let bob: Account;

beforeAll(async () => {
  receiver = await otlpReceiver();
  stack = await startTestStack('tracing', {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    // Export within 100 ms instead of 5 s.
    OTEL_BSP_SCHEDULE_DELAY: '100',
  });
  bob = await registerUser(client(stack.gateway), 'traced');
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

async function spansOf(traceId: string, until: (spans: Span[]) => boolean): Promise<Span[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    if (until(spans) || Date.now() > deadline) return spans;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  it('one push through the gateway is one trace: gateway, sync, MongoDB and Redis spans, linked', async () => {
    // The client's own W3C trace context: every span must join its trace.
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const res = await client(stack.gateway).post(
      '/sync/push',
      { deviceId: 'd1', changes: [{ id: 'traced-1', baseRevision: 0, content: { a: 1 } }] },
      bob.accessToken,
      { traceparent: `00-${traceId}-${clientSpanId}-01` },
    );
    expect(res.status, res.text).toBe(200);

    const spans = await spansOf(
      traceId,
      (s) =>
        // Server spans end last, after the response went out.
        s.some(
          (x) =>
            x.service === 'journal-sync' &&
            x.kind === SERVER &&
            /instrumentation-http/.test(x.scope),
        ) &&
        s.some(
          (x) =>
            x.service === 'journal-gateway' &&
            x.kind === SERVER &&
            /instrumentation-http/.test(x.scope),
        ) &&
        s.some((x) => x.service === 'journal-sync' && /mongodb/.test(x.scope)),
    );
    const find = (service: string, scope: RegExp, kind?: number) =>
      spans.filter(
        (s) =>
          s.service === service && scope.test(s.scope) && (kind === undefined || s.kind === kind),
      );

    // The gateway's server span continues the client's trace.
    const [gatewayServer] = find('journal-gateway', /instrumentation-http/, SERVER);
    expect(gatewayServer?.parentSpanId).toBe(clientSpanId);
    // Its proxy call to sync (undici) carries traceparent: sync's server span is its child.
    const [proxyCall] = find('journal-gateway', /instrumentation-undici/, CLIENT);
    expect(proxyCall).toBeDefined();
    const [syncServer] = find('journal-sync', /instrumentation-http/, SERVER);
    expect(syncServer?.parentSpanId).toBe(proxyCall?.spanId);
    // fastify's own spans (route handler) in both processes.
    expect(find('journal-gateway', /fastify/).length).toBeGreaterThan(0);
    expect(find('journal-sync', /fastify/).some((s) => /handler/.test(s.name))).toBe(true);
    // Store calls: the gateway's session lookup in Redis, sync's MongoDB writes and its Redis publish.
    expect(find('journal-gateway', /ioredis/).length).toBeGreaterThan(0);
    const mongo = find('journal-sync', /mongodb/);
    expect(
      mongo.some((s) => s.attributes['db.system'] === 'mongodb' || /insert|find/.test(s.name)),
    ).toBe(true);
    expect(find('journal-sync', /ioredis/).some((s) => /publish/.test(s.name))).toBe(true);
    // Nothing else: auth and attachments took no part.
    expect(new Set(spans.map((s) => s.service))).toEqual(
      new Set(['journal-gateway', 'journal-sync']),
    );
    expect([...receiver.contentTypes]).toEqual(['application/json']);

    // Log lines written while serving it carry its trace id, in both processes.
    const logged = stack
      .logs()
      .filter((l) => l.includes(`"trace_id":"${traceId}"`))
      .map((l) => JSON.parse(l) as { service: string; span_id?: string; msg: string });
    expect(new Set(logged.map((l) => l.service))).toEqual(new Set(['gateway', 'sync']));
    for (const l of logged) expect(l.span_id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a request without trace context starts a trace of its own; probes and scrapes make none', async () => {
    const before = receiver.spans.length;
    for (const service of ['sync', 'gateway'] as const) {
      for (const path of ['/health', '/ready']) await fetch(`${stack.urls[service]}${path}`);
      expect((await fetch(`${stack.metricsUrls[service]}/metrics`)).status).toBe(200);
    }
    const me = await client(stack.gateway).get('/auth/me', bob.accessToken);
    expect(me.status).toBe(200);
    const deadline = Date.now() + 10_000;
    let mine: Span | undefined;
    while (!mine && Date.now() < deadline) {
      mine = receiver.spans
        .slice(before)
        .find((s) => s.service === 'journal-auth' && s.kind === SERVER);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(mine).toBeDefined();
    const trace = await spansOf(mine?.traceId as string, (s) =>
      s.some((x) => x.service === 'journal-gateway'),
    );
    expect(
      trace.find((s) => s.service === 'journal-gateway' && s.kind === SERVER)?.parentSpanId,
    ).toBe('');
    // Not even their MongoDB and Redis pings, nor the gateway's calls to upstreams' /ready.
    const strays = receiver.spans
      .slice(before)
      .filter((s) => s.traceId !== mine?.traceId && s.parentSpanId === '');
    expect(strays.map((s) => `${s.service} ${s.scope} ${s.name}`)).toEqual([]);
    const probeSpans = receiver.spans
      .slice(before)
      .filter((s) =>
        /\/(health|ready|metrics)\b/.test(`${s.name} ${JSON.stringify(s.attributes)}`),
      );
    expect(probeSpans).toEqual([]);
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  /** The modules a gateway process resolves while it starts and answers /health. */
  async function modulesLoaded(extraEnv: Record<string, string>) {
    const dir = await mkdtemp(join(tmpdir(), 'journal-modules-'));
    const hooks = join(dir, 'log-resolve.mjs');
    const resolveHook =
      'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write("RESOLVED " + r.url + "\\n"); return r; }';
    await writeFile(
      hooks,
      `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(resolveHook)}));\n`,
    );
    const port = await freePort();
    const {
      OTEL_EXPORTER_OTLP_ENDPOINT: _drop,
      OTEL_BSP_SCHEDULE_DELAY: _also,
      ...env
    } = stack.options.env ?? {};
    const proc = startProcess(
      'gateway-modules',
      process.execPath,
      ['--import', hooks, join(ROOT, 'services', 'gateway', 'dist', 'main.js')],
      {
        env: serviceEnv('gateway', {
          ...stack.options,
          env: { ...env, ...extraEnv },
          ports: { ...stack.options.ports, gateway: port },
          // Its own metrics listener too: the stack's gateway holds the other one.
          metricsPorts: { ...metricsPorts(stack.options), gateway: await freePort() },
        }),
        cwd: ROOT,
        output: 'pipe',
      },
    );
    let stderr = '';
    let stdout = '';
    proc.child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    proc.child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    try {
      await waitForPort(port, 30_000, 'gateway', proc.child);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      await fetch(`http://127.0.0.1:${port}/openapi.json`);
    } finally {
      await proc.stop();
    }
    return {
      modules: [...stderr.matchAll(/^RESOLVED (.+)$/gm)].map((m) => m[1] as string),
      traced: /"trace_id"/.test(stdout),
    };
  }

  const SDK =
    /@opentelemetry\/(sdk-|instrumentation|exporter-)|@fastify\/otel|import-in-the-middle/;

  it('a service loads no OpenTelemetry SDK, exporter or instrumentation (the hook sees them when set)', async () => {
    const off = await modulesLoaded({});
    expect(off.modules.some((u) => /fastify/.test(u))).toBe(true);
    expect(off.modules.filter((u) => SDK.test(u))).toEqual([]);
    expect(off.traced).toBe(false);
    const on = await modulesLoaded({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(on.modules.filter((u) => SDK.test(u)).length).toBeGreaterThan(3);
    expect(on.traced).toBe(true);
  });
});
