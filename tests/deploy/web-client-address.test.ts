import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hopTrust, trustProxyOption } from '@journal/shared';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import { freePort, type ManagedProcess } from '../../scripts/lib/proc.js';
import { ensureNginx, ROOT } from '../../scripts/lib/tools.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';
import {
  COMPOSE_DIR,
  component,
  containerEnv,
  deploymentsByService,
  ensureDeployTools,
  interpolate,
  mainContainer,
  ofKind,
  readCompose,
  renderChart,
  startNginx,
  TOOL_INSTALL_TIMEOUT_MS,
} from './lib.js';

/**
 * The client's address through the web image's nginx (deploy/web/*.template, run by the real
 * nginx as the image's entrypoint renders them), in every layout:
 *
 * - behind a front proxy (compose prod: the TLS nginx; the chart behind an Ingress): the web
 *   nginx believes that proxy's X-Forwarded-For (REAL_IP_FROM) and nothing else;
 * - reached directly (the chart's web Service as a load balancer; REAL_IP_FROM unset): the peer
 *   is the client.
 *
 * Upstream is a stand-in for the gateway: fastify with the gateway's own proxy trust
 * (TRUST_PROXY_HOPS=1, through the same trustProxyOption), answering the address it computed.
 * Clients connect from loopback aliases 127.0.0.2 and 127.0.0.3; the front proxy and the web
 * nginx talk to each other over 127.0.0.1.
 */
const TEMPLATE = readFileSync(join(ROOT, 'deploy/web/default.conf.template'), 'utf8');
const REAL_IP = readFileSync(join(ROOT, 'deploy/web/real-ip.conf.template'), 'utf8');
const EXAMPLE = readFileSync(join(COMPOSE_DIR, 'nginx.conf.example'), 'utf8');

let gateway: { close(): Promise<unknown> } | undefined;
const nginxes: ManagedProcess[] = [];
let frontPort: number;
let behindPort: number;
let directPort: number;
let stack: TestStack;
/** The front proxy in front of a web nginx in front of the real gateway, auth behind it. */
let realFrontPort: number;

/** What the nginx image's entrypoint does: envsubst of every *.template into conf.d. */
async function startWeb(realIpFrom: string | undefined, gatewayPort: number) {
  const binary = await ensureNginx();
  const dir = await mkdtemp(join(tmpdir(), 'journal-web-xff-'));
  await chmod(dir, 0o755);
  const html = join(dir, 'html');
  await mkdir(html, { recursive: true });
  await writeFile(join(html, 'index.html'), '<!doctype html><title>Journal</title>');
  const port = await freePort();
  const server = TEMPLATE.replace('$' + '{GATEWAY_URL}', `http://127.0.0.1:${gatewayPort}`)
    .replace('listen 8080;', `listen 127.0.0.1:${port};`)
    .replace('root /usr/share/nginx/html;', `root ${html};`);
  // The Dockerfile's default (ENV REAL_IP_FROM=unix:) when the layout sets none.
  const realIp = REAL_IP.replace('$' + '{REAL_IP_FROM}', realIpFrom ?? 'unix:');
  expect(`${server}${realIp}`).not.toContain('$' + '{');
  await writeFile(
    join(dir, 'nginx.conf'),
    `error_log stderr; events {} http { access_log off; ${temps(dir)}\n${realIp}\n${server}\n}\n`,
  );
  nginxes.push((await startNginx(binary, dir, port)).process);
  return port;
}

function temps(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${dir}/${t};`)
    .join(' ');
}

/** The front proxy of compose prod's web app: nginx.conf.example's web server block's headers. */
async function startFront(webPort: number) {
  const binary = await ensureNginx();
  const dir = await mkdtemp(join(tmpdir(), 'journal-front-xff-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const server = `server { listen 127.0.0.1:${port}; location / {
      proxy_pass http://127.0.0.1:${webPort};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme; } }`;
  await writeFile(
    join(dir, 'nginx.conf'),
    `error_log stderr; events {} http { access_log off; ${temps(dir)}\n${server}\n}\n`,
  );
  nginxes.push((await startNginx(binary, dir, port)).process);
  return port;
}

beforeAll(async () => {
  // What createServiceApp makes of the gateway's TRUST_PROXY_HOPS=1.
  const trust = trustProxyOption({ TRUST_PROXY_HOPS: 1 });
  expect(trust).toBe(1);
  const app = Fastify({ trustProxy: hopTrust(1) });
  gateway = app;
  app.all('/*', async (req) => ({ ip: req.ip, xff: req.headers['x-forwarded-for'] ?? null }));
  const gatewayPort = await freePort();
  await app.listen({ host: '127.0.0.1', port: gatewayPort });
  // Compose prod / the chart behind an Ingress: the front proxy is 127.0.0.1 here.
  behindPort = await startWeb('127.0.0.1', gatewayPort);
  frontPort = await startFront(behindPort);
  // The chart's web Service reached directly: the image's default, no proxy believed.
  directPort = await startWeb(undefined, gatewayPort);
  // The same chain in front of the real gateway and auth (compose prod's settings: one trusted
  // hop at the gateway and at auth), with a small per-address failed-login limit.
  stack = await startTestStack('web-client-address', {
    TRUST_PROXY_HOPS: '1',
    AUTH_LOGIN_MAX_FAILURES_PER_IP: '3',
    AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '1000',
    RATE_LIMIT_MAX: '100000',
  });
  realFrontPort = await startFront(
    await startWeb('127.0.0.1', Number(new URL(stack.gateway).port)),
  );
}, 240_000);

afterAll(async () => {
  for (const n of nginxes) await n.stop();
  await gateway?.close();
  await stack?.stop();
});

/** POST `body` to `path` from the local address `from`; the status and the body's text. */
function send(
  from: string,
  port: number,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += String(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** The address the gateway computed for a login POST sent from `from` to `port`. */
async function gatewaySees(
  from: string,
  port: number,
  headers: Record<string, string> = {},
): Promise<{ ip: string; xff: string | null }> {
  const res = await send(from, port, '/auth/login', {}, headers);
  if (res.status !== 200) throw new Error(`${res.status} ${res.text}`);
  return JSON.parse(res.text);
}

const SPOOFS: Record<string, string>[] = [
  { 'x-forwarded-for': '203.0.113.7' },
  { 'x-forwarded-for': '203.0.113.7, 127.0.0.1' },
  { 'x-forwarded-for': '127.0.0.3' },
  { 'x-real-ip': '203.0.113.8', 'x-forwarded-for': 'not an address' },
];

describe('the web image behind a front proxy (compose prod; the chart behind an Ingress)', () => {
  it('hands the gateway each client’s own address: two clients, two addresses', async () => {
    const a = await gatewaySees('127.0.0.2', frontPort);
    const b = await gatewaySees('127.0.0.3', frontPort);
    expect(a.ip).toBe('127.0.0.2');
    expect(b.ip).toBe('127.0.0.3');
    // Exactly one address in the header: nothing of the chain before it survives.
    expect(a.xff).toBe('127.0.0.2');
  });

  it('a client cannot choose its address with X-Forwarded-For or X-Real-IP', async () => {
    for (const spoof of SPOOFS) {
      const seen = await gatewaySees('127.0.0.2', frontPort, spoof);
      expect(seen.ip, JSON.stringify(spoof)).toBe('127.0.0.2');
      expect(seen.xff, JSON.stringify(spoof)).toBe('127.0.0.2');
    }
  });

  it('a client reaching the web nginx around the front proxy is not believed either', async () => {
    for (const spoof of SPOOFS) {
      const seen = await gatewaySees('127.0.0.3', behindPort, spoof);
      expect(seen.ip, JSON.stringify(spoof)).toBe('127.0.0.3');
    }
  });

  it('uses the header nginx.conf.example’s web server block sends', () => {
    const block = EXAMPLE.slice(EXAMPLE.indexOf('server_name app.journal.example.com'));
    expect(block).toMatch(/#\s+proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
  });
});

describe('through the web image to the real gateway and auth (compose prod’s chain)', () => {
  it('failed logins are counted per client, whatever the client writes in X-Forwarded-For', async () => {
    const wrong = (i: number) => ({
      username: `nobody_${process.pid}_${i}`,
      password: 'wrong password 1',
    });
    const spoofing: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await send('127.0.0.2', realFrontPort, '/auth/login', wrong(i), {
        'x-forwarded-for': `198.51.100.${i}`,
      });
      spoofing.push(res.status);
    }
    expect(spoofing).toEqual([401, 401, 401, 429, 429]);
    // Another web user is not locked out by the first one's failures: its own address.
    const other = await send('127.0.0.3', realFrontPort, '/auth/login', wrong(9));
    expect(other.status, other.text).toBe(401);
  });
});

describe('the web image reached directly (its default: no proxy believed)', () => {
  it('hands the gateway each client’s own address, whatever the client claims', async () => {
    expect((await gatewaySees('127.0.0.2', directPort)).ip).toBe('127.0.0.2');
    expect((await gatewaySees('127.0.0.3', directPort)).ip).toBe('127.0.0.3');
    for (const spoof of SPOOFS) {
      const seen = await gatewaySees('127.0.0.2', directPort, spoof);
      expect(seen.ip, JSON.stringify(spoof)).toBe('127.0.0.2');
      expect(seen.xff, JSON.stringify(spoof)).toBe('127.0.0.2');
    }
  });
});

describe('each layout’s settings', () => {
  it('compose prod: the web app believes only the frontend network, the gateway one hop', () => {
    const c = readCompose('docker-compose.prod.yml');
    const subnet = interpolate(String(c.services.web?.environment?.REAL_IP_FROM), {});
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    const frontend = (c as { networks?: Record<string, unknown> }).networks?.frontend as {
      ipam?: { config?: { subnet?: string }[] };
    };
    expect(interpolate(String(frontend?.ipam?.config?.[0]?.subnet), {})).toBe(subnet);
    // The web app is not published: only nginx, on that network, reaches it.
    expect(c.services.web?.ports).toBeUndefined();
    expect(interpolate(String(c.services.gateway?.environment?.TRUST_PROXY_HOPS), {})).toBe('1');
  });

  it('the Dockerfile’s web target renders both templates, believing no proxy by default', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('ENV REAL_IP_FROM=unix:');
    expect(dockerfile).toContain(
      'COPY deploy/web/real-ip.conf.template /etc/nginx/templates/real-ip.conf.template',
    );
  });

  it(
    'chart: the gateway trusts one hop with the web app or the Ingress on; the web app its own front proxy',
    async () => {
      await ensureDeployTools();
      const key = await generateSigningKey('web-xff');
      const required = {
        externalMongodb: { url: 'mongodb://journal:secret@mongo.example:27017/?authSource=admin' },
        externalRedis: { url: 'redis://:secret@redis.example:6379/0' },
        jwt: { privateKey: key.privateKeyPem, keyId: key.kid },
      };
      const render = async (values: Record<string, unknown>) => {
        const { objects } = await renderChart({ values: { ...required, ...values } });
        const gatewayEnv = containerEnv(
          mainContainer(deploymentsByService(objects).gateway),
          objects,
        );
        const web = ofKind(objects, 'Deployment').find((d) => component(d) === 'web');
        const webEnv = web ? containerEnv(mainContainer(web), objects) : undefined;
        return { gateway: gatewayEnv, web: webEnv };
      };
      const layouts = {
        neither: await render({}),
        webOnly: await render({ web: { enabled: true } }),
        webBehindIngress: await render({
          web: { enabled: true, realIpFrom: '10.244.0.0/16' },
          gateway: { ingress: { enabled: true } },
        }),
      };
      expect(layouts.neither.gateway.TRUST_PROXY_HOPS).toBe('0');
      expect(layouts.webOnly.gateway.TRUST_PROXY_HOPS).toBe('1');
      expect(layouts.webOnly.web?.REAL_IP_FROM).toBe('unix:');
      expect(layouts.webBehindIngress.gateway.TRUST_PROXY_HOPS).toBe('1');
      expect(layouts.webBehindIngress.web?.REAL_IP_FROM).toBe('10.244.0.0/16');
      await expect(
        renderChart({
          values: { ...required, web: { enabled: true, realIpFrom: '10.0.0.0/8; x' } },
        }),
      ).rejects.toThrow();
    },
    TOOL_INSTALL_TIMEOUT_MS,
  );
});
