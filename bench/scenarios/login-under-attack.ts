import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { quantile, TSX } from '../lib/measure.js';

const ATTACKER_SCRIPT = fileURLToPath(new URL('./login-attacker.ts', import.meta.url));

/**
 * Issue 15: a bystander's login latency while one address floods auth with failing logins.
 *
 * The bystander (its own loopback address, 127.0.0.2) registers, then logs in and calls
 * `/auth/me` one after the other, first alone, then while an attacker (127.0.0.3, a process of
 * its own: login-attacker.ts) keeps ATTACK_PARALLEL failing logins for unknown users in flight
 * the whole time. Both go through
 * the gateway, which with no proxy in front takes the socket's address as the client's; the
 * stack's rate limits may be raised out of the way (make bench does): what protects the
 * bystander then is auth's hash gate alone.
 *
 * Returns the bystander's login p99 (ms) without and with the attack, and every status seen,
 * keyed `attack <status>`, `bystander login <status>`, `bystander me <status>`.
 */
export const ATTACK_PARALLEL = 200;
const BYSTANDER = '127.0.0.2';

interface Reply {
  status: number;
  body: string;
  ms: number;
}

const agents = {
  [BYSTANDER]: new Agent({ keepAlive: true, maxSockets: 4, localAddress: BYSTANDER }),
};

function call(
  from: keyof typeof agents,
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Reply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const start = performance.now();
  return new Promise((resolve) => {
    const req = request(
      `${base}${path}`,
      {
        method,
        agent: agents[from],
        headers: {
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': payload.length }
            : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += String(d);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - start }),
        );
      },
    );
    // A connection error counts as status 0, never as a crash of the scenario.
    req.on('error', () => resolve({ status: 0, body: '', ms: performance.now() - start }));
    req.end(payload);
  });
}

export async function loginUnderAttack(gatewayUrl: string): Promise<{
  p99Baseline: number;
  p99UnderAttack: number;
  statuses: Record<string, number>;
}> {
  const rounds = Number(process.env.BENCH_ATTACK_ROUNDS ?? 30);
  const statuses: Record<string, number> = {};
  const count = (key: string) => {
    statuses[key] = (statuses[key] ?? 0) + 1;
  };
  const credentials = {
    username: `bystander_${randomBytes(4).toString('hex')}`,
    password: `pw-${randomBytes(12).toString('hex')}`,
  };
  const registered = await call(BYSTANDER, gatewayUrl, 'POST', '/auth/register', credentials);
  if (registered.status !== 201) {
    throw new Error(`bystander registration: ${registered.status} ${registered.body}`);
  }

  /** `rounds` logins, each followed by /auth/me; returns the login latencies (ms). */
  async function bystander(): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const login = await call(BYSTANDER, gatewayUrl, 'POST', '/auth/login', credentials);
      count(`bystander login ${login.status}`);
      times.push(login.ms);
      if (login.status !== 200) continue;
      const token = (JSON.parse(login.body) as { accessToken: string }).accessToken;
      const me = await call(BYSTANDER, gatewayUrl, 'GET', '/auth/me', undefined, token);
      count(`bystander me ${me.status}`);
    }
    return times.sort((a, b) => a - b);
  }

  const baseline = await bystander();

  const attacker = spawn(
    process.execPath,
    [TSX, ATTACKER_SCRIPT, gatewayUrl, String(ATTACK_PARALLEL)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let report = '';
  attacker.stdout.on('data', (d: Buffer) => {
    report += d.toString();
  });
  const attackerDone = new Promise<void>((resolve) => attacker.on('exit', () => resolve()));
  // Let the flood start and fill auth's queue before the bystander starts.
  await new Promise((r) => setTimeout(r, 2_000));
  const underAttack = await bystander();
  attacker.stdin.end();
  await attackerDone;
  for (const [status, n] of Object.entries(JSON.parse(report || '{}') as Record<string, number>)) {
    statuses[`attack ${status}`] = n;
  }
  for (const agent of Object.values(agents)) agent.destroy();

  return {
    p99Baseline: quantile(baseline, 0.99),
    p99UnderAttack: quantile(underAttack, 0.99),
    statuses,
  };
}
