import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type ManagedProcess } from '../../scripts/lib/proc.js';
import { ensureNginx } from '../../scripts/lib/tools.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';
import { COMPOSE_DIR, startNginx } from './lib.js';

/**
 * Issue 15, the compose production layout for real: Debian's nginx with nginx.conf.example in
 * front of the gateway (TRUST_PROXY_HOPS=1), the services behind it (1 hop: the gateway).
 * A client cannot move its own limit by writing X-Forwarded-For; clients on different real
 * addresses (loopback aliases 127.0.0.2 and 127.0.0.3) are counted apart.
 */
const execFileAsync = promisify(execFile);
const EXAMPLE = readFileSync(join(COMPOSE_DIR, 'nginx.conf.example'), 'utf8');

let stack: TestStack;
let nginx: ManagedProcess;
let httpsPort: number;

beforeAll(async () => {
  const binary = await ensureNginx();
  stack = await startTestStack('nginx-client-address', {
    // nginx -> gateway -> service: one trusted hop at each.
    TRUST_PROXY_HOPS: '1',
    AUTH_REGISTER_MAX_PER_IP: '3',
    AUTH_LOGIN_MAX_FAILURES_PER_IP: '3',
    AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '1000',
    RATE_LIMIT_MAX: '100000',
  });
  const dir = await mkdtemp(join(tmpdir(), 'journal-nginx-xff-'));
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
  httpsPort = await freePort();
  const httpPort = await freePort();
  const gatewayPort = new URL(stack.gateway).port;
  // The example as it is, on loopback ports, with this run's certificate, and the gateway as an
  // address literal (nginx uses it without the resolver). `http2 on;` is dropped: these clients
  // speak HTTP/1.1, and Debian 12's nginx (1.22) predates the directive.
  const config = EXAMPLE.replace(/listen \[::\]:[^;]+;\n/g, '')
    .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`)
    .replace(/^\s*http2 on;\n/m, '')
    .replace('set $journal_gateway gateway:8000;', `set $journal_gateway 127.0.0.1:${gatewayPort};`)
    .replaceAll('/etc/nginx/certs/', `${dir}/`)
    .replaceAll('/var/log/nginx/', `${dir}/`);
  expect(config).toContain(`set $journal_gateway 127.0.0.1:${gatewayPort};`);
  expect(config).toContain('X-Forwarded-For');
  await writeFile(join(dir, 'nginx.conf'), config);
  nginx = (await startNginx(binary, dir, httpsPort)).process;
}, 180_000);

afterAll(async () => {
  await nginx?.stop();
  await stack?.stop();
});

/** POST through nginx over TLS from the given local (client) address. */
function post(
  from: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: httpsPort,
        localAddress: from,
        path,
        method: 'POST',
        headers: {
          host: 'journal.example.com',
          'content-type': 'application/json',
          'content-length': String(payload.length),
          ...headers,
        },
        rejectUnauthorized: false,
        servername: 'journal.example.com',
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += String(d);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

let n = 0;
const account = () => ({ username: `xff_${process.pid}_${++n}`, password: 'a long password 1' });

describe('client addresses behind nginx', () => {
  it('registrations: a spoofed X-Forwarded-For does not buy a fresh budget', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post('127.0.0.2', '/auth/register', account(), {
        'x-forwarded-for': `192.0.2.${70 + i}`,
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429]);
    // Spoofing a chain does not help either.
    const chained = await post('127.0.0.2', '/auth/register', account(), {
      'x-forwarded-for': '192.0.2.99, 10.0.0.1, 127.0.0.1',
    });
    expect(chained.status).toBe(429);
    expect(JSON.parse(chained.body)).toMatchObject({ code: 'rate_limited' });
    // Another real address has its own budget.
    expect((await post('127.0.0.3', '/auth/register', account())).status).toBe(201);
  });

  it('failed logins: counted per real address, whatever the client claims', async () => {
    const wrong = (i: number) => ({
      username: `nobody_${process.pid}_${i}`,
      password: 'wrong pw 123',
    });
    const spoofing: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post('127.0.0.4', '/auth/login', wrong(i), {
        'x-forwarded-for': `198.51.100.${i}`,
      });
      spoofing.push(res.status);
    }
    expect(spoofing).toEqual([401, 401, 401, 429, 429]);
    expect((await post('127.0.0.5', '/auth/login', wrong(9))).status).toBe(401);
  });
});
