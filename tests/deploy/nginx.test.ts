import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type ManagedProcess,
  startProcess,
  waitForPort,
} from '../../scripts/lib/proc.js';
import { ensureNginx } from '../../scripts/lib/tools.js';
import { COMPOSE_DIR } from './lib.js';

const execFileAsync = promisify(execFile);
const EXAMPLE = readFileSync(join(COMPOSE_DIR, 'nginx.conf.example'), 'utf8');

/** Each value of a directive in the example, e.g. directive('proxy_buffering') -> ['off']. */
function directive(name: string): string[] {
  return [...EXAMPLE.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((m) =>
    (m[1] as string).trim(),
  );
}
const seconds = (v: string) => Number.parseInt(v, 10) * (v.endsWith('m') ? 60 : 1);

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  httpVersion: string;
  socketPort: number;
}

let nginx: ManagedProcess;
let upstream: Server;
let httpPort: number;
let httpsPort: number;
const seen: Seen[] = [];
let nginxOutput = '';

beforeAll(async () => {
  const binary = await ensureNginx();
  const dir = await mkdtemp(join(tmpdir(), 'journal-nginx-conf-'));
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=journal.example.com',
    '-days',
    '1',
    '-keyout',
    join(dir, 'privkey.pem'),
    '-out',
    join(dir, 'fullchain.pem'),
  ]);
  // A stand-in gateway that records what nginx forwards.
  const upstreamPort = await freePort();
  upstream = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bytes,
        httpVersion: req.httpVersion,
        socketPort: req.socket.remotePort ?? 0,
      });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ bytes }));
    });
  });
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', r));
  httpPort = await freePort();
  httpsPort = await freePort();
  // The example as it is, but on loopback ports, with this run's certificate and upstream.
  const config = EXAMPLE.replace(/listen \[::\]:[^;]+;\n/g, '')
    .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
    .replace('listen 443 ssl http2;', `listen 127.0.0.1:${httpsPort} ssl http2;`)
    .replace('server gateway:8000;', `server 127.0.0.1:${upstreamPort};`)
    .replaceAll('/etc/nginx/certs/', `${dir}/`)
    .replaceAll('/var/log/nginx/', `${dir}/`);
  expect(config).not.toContain('gateway:8000');
  await writeFile(join(dir, 'nginx.conf'), config);
  await execFileAsync(binary, [
    '-t',
    '-q',
    '-p',
    dir,
    '-c',
    join(dir, 'nginx.conf'),
    '-g',
    `pid ${dir}/nginx.pid;`,
  ]);
  nginx = startProcess(
    'nginx',
    binary,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/nginx.pid;`],
    { output: 'pipe' },
  );
  nginx.child.stderr?.on('data', (d) => {
    nginxOutput += String(d);
  });
  await waitForPort(httpsPort, 10_000, 'nginx', nginx.child).catch((err: Error) => {
    throw new Error(`${err.message}\n${nginxOutput}`);
  });
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  await new Promise((r) => upstream?.close(r));
});

function https(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: httpsPort,
        path,
        method: options.method ?? 'GET',
        headers: { host: 'journal.example.com', ...options.headers },
        rejectUnauthorized: false,
        servername: 'journal.example.com',
      },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += String(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('nginx.conf.example', () => {
  it('sets the limits uploads and long-polls need', () => {
    const bodySize = directive('client_max_body_size')[0] ?? '';
    expect(
      Number.parseInt(bodySize, 10) * (bodySize.endsWith('g') ? 1024 : 1),
    ).toBeGreaterThanOrEqual(100);
    expect(bodySize).toMatch(/^\d+[mg]$/);
    expect(directive('proxy_request_buffering')).toEqual(['off']);
    expect(directive('proxy_buffering')).toEqual(['off']);
    expect(directive('proxy_http_version')).toEqual(['1.1']);
    // A long-poll answers after up to 30 s: nginx must wait longer than that for the gateway.
    expect(seconds(directive('proxy_read_timeout')[0] ?? '0')).toBeGreaterThan(30);
    expect(seconds(directive('proxy_send_timeout')[0] ?? '0')).toBeGreaterThanOrEqual(60);
    expect(seconds(directive('client_body_timeout')[0] ?? '0')).toBeGreaterThanOrEqual(60);
    expect(directive('keepalive').length).toBe(1);
  });

  it('redirects plain HTTP to HTTPS', async () => {
    const res = await new Promise<{ status: number; location?: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: httpPort,
          path: '/sync/changes?since=3',
          headers: { host: 'journal.example.com' },
        },
        (r) => {
          r.resume();
          resolve({ status: r.statusCode ?? 0, location: r.headers.location });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(301);
    expect(res.location).toBe('https://journal.example.com/sync/changes?since=3');
  });

  it("terminates TLS and passes the client's X-Request-Id and the forwarded headers on", async () => {
    const res = await https('/auth/me', { headers: { 'x-request-id': 'client-chosen-id-1' } });
    expect(res.status).toBe(200);
    const last = seen[seen.length - 1] as Seen;
    expect(last.url).toBe('/auth/me');
    expect(last.headers['x-request-id']).toBe('client-chosen-id-1');
    expect(last.headers['x-forwarded-proto']).toBe('https');
    expect(last.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(last.headers['x-real-ip']).toBe('127.0.0.1');
    expect(last.headers.host).toBe('journal.example.com');
    expect(last.httpVersion).toBe('1.1');
    expect(last.headers.connection).not.toBe('close');
  });

  it('makes a request id when the client sends none', async () => {
    await https('/health');
    const last = seen[seen.length - 1] as Seen;
    expect(last.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps upstream connections alive between requests', async () => {
    await https('/a');
    await https('/b');
    const [a, b] = seen.slice(-2) as [Seen, Seen];
    expect(a.socketPort).toBe(b.socketPort);
  });

  it('passes a 5 MiB upload through (far above nginx’s 1 MiB default)', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    const res = await https('/attachments/a1', {
      method: 'PUT',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ bytes: body.length });
  });
});
