import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
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
import { freePort, type ManagedProcess } from '../../scripts/lib/proc.js';
import { ensureNginx } from '../../scripts/lib/tools.js';
import { COMPOSE_DIR, startNginx } from './lib.js';

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

/**
 * A DNS server for one name (`gateway`): answers its A query with `address.current`, so a test
 * can move the gateway the way a recreated container moves, and counts the queries.
 */
async function startDns(address: { current: string }) {
  const socket: Socket = createSocket('udp4');
  let queries = 0;
  socket.on('message', (msg, peer) => {
    queries++;
    // Header (12 bytes), then one question: labels, a zero byte, QTYPE and QCLASS.
    let offset = 12;
    const labels: string[] = [];
    while (msg[offset] !== 0 && offset < msg.length) {
      const length = msg[offset] as number;
      labels.push(msg.subarray(offset + 1, offset + 1 + length).toString());
      offset += length + 1;
    }
    const qtype = msg.readUInt16BE(offset + 1);
    const question = msg.subarray(12, offset + 5);
    const answer = labels.join('.') === 'gateway' && qtype === 1;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(answer ? 0x8180 : 0x8183, 2); // a response; NXDOMAIN when not ours
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer ? 1 : 0, 6);
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(1, 2); // A
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(1, 6); // TTL 1 s
    record.writeUInt16BE(4, 10);
    address.current.split('.').forEach((byte, i) => {
      record[12 + i] = Number(byte);
    });
    socket.send(
      Buffer.concat([header, question, ...(answer ? [record] : [])]),
      peer.port,
      peer.address,
    );
  });
  const port = await freePort();
  await new Promise<void>((r) => socket.bind(port, '127.0.0.1', r));
  return {
    port,
    queries: () => queries,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** Debian 12's nginx is 1.22: it predates `http2 on;` (1.25.1). */
async function nginxVersion(binary: string): Promise<[number, number, number]> {
  const { stderr } = await execFileAsync(binary, ['-v']);
  const [, a = '0', b = '0', c = '0'] = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(stderr) ?? [];
  return [Number(a), Number(b), Number(c)];
}

let nginx: ManagedProcess;
let upstream: Server;
/** A second stand-in gateway on 127.0.0.2: where `gateway` points after the "recreation". */
let moved: Server;
const gatewayAddress = { current: '127.0.0.1' };
let dns: Awaited<ReturnType<typeof startDns>>;
let httpPort: number;
let httpsPort: number;
const seen: Seen[] = [];

beforeAll(async () => {
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
  const handler = (
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
  ) => {
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
      res.end(JSON.stringify({ bytes, at: req.socket.localAddress }));
    });
  };
  upstream = createServer(handler);
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', r));
  moved = createServer(handler);
  await new Promise<void>((r) => moved.listen(upstreamPort, '127.0.0.2', r));
  dns = await startDns(gatewayAddress);
  const binary = await ensureNginx();
  const [major, minor, patch] = await nginxVersion(binary);
  const hasHttp2On = major * 1e6 + minor * 1e3 + patch >= 1_025_001;
  httpPort = await freePort();
  httpsPort = await freePort();
  // The example as it is, but on loopback ports, with this run's certificate, this test's DNS
  // server (answers kept 1 s instead of 10 s) and the stand-in gateway's port. On an nginx
  // older than 1.25.1 (Debian 12's), `http2 on;` is written the old way, on the listen line.
  let config = EXAMPLE.replace(/listen \[::\]:[^;]+;\n/g, '')
    .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`)
    .replace('resolver 127.0.0.11 valid=10s', `resolver 127.0.0.1:${dns.port} valid=1s`)
    .replace('set $journal_gateway gateway:8000;', `set $journal_gateway gateway:${upstreamPort};`)
    .replaceAll('/etc/nginx/certs/', `${dir}/`)
    .replaceAll('/var/log/nginx/', `${dir}/`);
  if (!hasHttp2On)
    config = config
      .replace(/^\s*http2 on;\n/m, '')
      .replace(`listen 127.0.0.1:${httpsPort} ssl;`, `listen 127.0.0.1:${httpsPort} ssl http2;`);
  expect(config).not.toContain('gateway:8000');
  expect(config).toContain(`resolver 127.0.0.1:${dns.port}`);
  await writeFile(join(dir, 'nginx.conf'), config);
  nginx = (await startNginx(binary, dir, httpsPort)).process;
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  await new Promise((r) => upstream?.close(r));
  await new Promise((r) => moved?.close(r));
  await dns?.close();
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
  });

  it('uses the current http2 directive and re-resolves the gateway through Docker’s DNS', () => {
    expect(directive('http2')).toEqual(['on']);
    expect(directive('listen').some((l) => /\bhttp2\b/.test(l))).toBe(false);
    expect(directive('resolver')).toEqual(['127.0.0.11 valid=10s ipv6=off']);
    // A name in a variable is resolved per request (through `resolver`), a literal one once.
    expect(directive('set')).toEqual(['$journal_gateway gateway:8000']);
    expect(directive('proxy_pass')).toEqual(['http://$journal_gateway']);
    expect(EXAMPLE).not.toMatch(/^\s*upstream\s/m);
  });

  it('proxies only the gateway’s public port, never a metrics port', () => {
    expect(EXAMPLE).not.toMatch(/:9\d\d\d\b/);
    const locations = [...EXAMPLE.matchAll(/^\s*location\s+([^{]+?)\s*\{/gm)].map((m) => m[1]);
    expect(locations).toEqual(['/']);
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

  it('follows the gateway to its new address when the container is recreated', async () => {
    const before = await https('/where');
    expect(JSON.parse(before.body).at).toBe('127.0.0.1');
    const queriesBefore = dns.queries();
    gatewayAddress.current = '127.0.0.2';
    let at = '';
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      at = JSON.parse((await https('/where')).body).at;
      if (at === '127.0.0.2') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(at).toBe('127.0.0.2');
    expect(dns.queries()).toBeGreaterThan(queriesBefore);
    gatewayAddress.current = '127.0.0.1';
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
    expect(JSON.parse(res.body)).toMatchObject({ bytes: body.length });
  });
});
