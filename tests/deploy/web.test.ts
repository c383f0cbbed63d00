/**
 * The web image's nginx configuration (deploy/web/default.conf.template), run by the real
 * nginx: the static app with the right caching, and the API paths forwarded to the gateway
 * (same origin, so no CORS), streaming, with the long-poll timeout.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type ManagedProcess } from '../../scripts/lib/proc.js';
import { ensureNginx, ROOT } from '../../scripts/lib/tools.js';
import { startNginx } from './lib.js';

const TEMPLATE = readFileSync(join(ROOT, 'deploy/web/default.conf.template'), 'utf8');

let nginx: ManagedProcess;
let upstream: Server;
let port: number;
const seen: { method: string; url: string; headers: IncomingHttpHeaders; bytes: number }[] = [];

beforeAll(async () => {
  const binary = await ensureNginx();
  const dir = await mkdtemp(join(tmpdir(), 'journal-web-nginx-'));
  await chmod(dir, 0o755); // nginx's workers (not root) read the files, as in the image
  const html = join(dir, 'html');
  await mkdir(join(html, 'assets'), { recursive: true });
  await writeFile(join(html, 'index.html'), '<!doctype html><title>Journal</title>');
  await writeFile(join(html, 'assets', 'index-abc123.js'), 'console.log(1)');
  const upstreamPort = await freePort();
  upstream = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ bytes }));
    });
  });
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', r));
  port = await freePort();
  // What the nginx image's entrypoint does (envsubst of GATEWAY_URL), on loopback ports.
  const server = TEMPLATE.replace('$' + '{GATEWAY_URL}', `http://127.0.0.1:${upstreamPort}`)
    .replace('listen 8080;', `listen 127.0.0.1:${port};`)
    .replace('root /usr/share/nginx/html;', `root ${html};`);
  expect(server).not.toContain('$' + '{');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${dir}/${t};`)
    .join(' ');
  await writeFile(
    join(dir, 'nginx.conf'),
    `error_log stderr; events {} http { access_log off; ${temp}\n${server}\n}\n`,
  );
  nginx = (await startNginx(binary, dir, port)).process;
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  await new Promise((r) => upstream?.close(r));
});

const url = (path: string) => `http://127.0.0.1:${port}${path}`;

describe('deploy/web/default.conf.template', () => {
  it('serves the app page revalidated and the hashed assets immutable', async () => {
    const page = await fetch(url('/'));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Journal</title>');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    // The app's strict Content-Security-Policy (clients/web/csp.ts; equal to it by a unit test).
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const directive of ["script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"])
      expect(csp).toContain(directive);
    const asset = await fetch(url('/assets/index-abc123.js'));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(url('/assets/missing.js'))).status).toBe(404);
    expect((await fetch(url('/healthz'))).status).toBe(200);
  });

  it('forwards /auth, /sync, /attachments and /storage to the gateway with path and query', async () => {
    for (const path of [
      '/auth/me',
      '/sync/changes?since=3&wait=25',
      '/attachments/p1',
      '/storage/qiniu/token?key=a',
    ]) {
      const res = await fetch(url(path), { headers: { authorization: 'Bearer t' } });
      expect(res.status, path).toBe(200);
      const got = seen.at(-1);
      expect(got?.url).toBe(path);
      expect(got?.headers.authorization).toBe('Bearer t');
      expect(got?.headers['x-forwarded-for']).toBe('127.0.0.1');
    }
    // Not an API path: the app's page, never the gateway.
    const before = seen.length;
    expect((await fetch(url('/authors'))).headers.get('content-type')).toContain('text/html');
    expect(seen.length).toBe(before);
  });

  it('passes a 5 MiB photo upload through and allows long-polls their time', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    const res = await fetch(url('/attachments/big'), { method: 'PUT', body });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { bytes: number }).bytes).toBe(body.length);
    expect(TEMPLATE).toMatch(/proxy_read_timeout (\d+)s;/);
    expect(Number(/proxy_read_timeout (\d+)s;/.exec(TEMPLATE)?.[1])).toBeGreaterThan(30);
    expect(TEMPLATE).toContain('proxy_request_buffering off;');
  });
});
