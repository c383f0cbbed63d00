/**
 * Runs the login-under-attack scenario (bench/scenarios/login-under-attack.ts) once against a
 * fresh bench stack (production scrypt cost) and prints its figures as JSON:
 *   npx tsc -b && npx tsx bench/login-under-attack.ts
 * By default the rate limits are raised out of the way, as in make bench, so auth's hash gate
 * alone protects the bystander; BENCH_DEFAULT_LIMITS=1 keeps the shipped defaults (the gateway
 * refuses an address after 300 anonymous calls a minute, auth after 50 failed logins).
 */
import { startBenchStack } from './lib/stack.js';
import { loginUnderAttack } from './scenarios/login-under-attack.js';

const DEFAULT_LIMITS = {
  RATE_LIMIT_MAX: '300',
  RATE_LIMIT_AUTHENTICATED_MAX: '1200',
  AUTH_LOGIN_MAX_FAILURES_PER_IP: '50',
  AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '10',
  AUTH_REGISTER_MAX_PER_IP: '20',
};

const stack = await startBenchStack(process.env.BENCH_DEFAULT_LIMITS === '1' ? DEFAULT_LIMITS : {});
try {
  const result = await loginUnderAttack(stack.urls.gateway);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await stack.stop();
}
