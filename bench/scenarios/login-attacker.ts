/**
 * The attacker of login-under-attack.ts, in a process of its own so that its load does not
 * slow the bystander's own client: ATTACK_PARALLEL failing logins for unknown users from
 * 127.0.0.3 kept in flight until stdin closes, then the count of each status as JSON on stdout.
 *   tsx bench/scenarios/login-attacker.ts <gatewayUrl> <parallel>
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';

const [gatewayUrl, parallelArg] = process.argv.slice(2) as [string, string];
const parallel = Number(parallelArg);
const agent = new Agent({ keepAlive: true, maxSockets: parallel, localAddress: '127.0.0.3' });
const statuses: Record<string, number> = {};
let attacking = true;

function attempt(): Promise<number> {
  const body = Buffer.from(
    JSON.stringify({
      username: `ghost_${randomBytes(6).toString('hex')}`,
      password: 'not the password',
    }),
  );
  return new Promise((resolve) => {
    const req = request(
      `${gatewayUrl}/auth/login`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

async function worker(): Promise<void> {
  while (attacking) {
    const status = await attempt();
    statuses[status] = (statuses[status] ?? 0) + 1;
    // A refused call comes back at once: pause a little rather than spin.
    if (status === 429 || status === 503) await new Promise((r) => setTimeout(r, 20));
  }
}

const workers = Array.from({ length: parallel }, worker);
process.stdin.resume();
process.stdin.on('end', async () => {
  attacking = false;
  await Promise.all(workers);
  agent.destroy();
  process.stdout.write(JSON.stringify(statuses));
});
