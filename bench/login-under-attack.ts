/**
 * Runs the login-under-attack scenario (bench/scenarios/login-under-attack.ts) once against a
 * fresh bench stack (production scrypt cost, rate limits raised out of the way) and prints its
 * figures as JSON:
 *   npx tsc -b && npx tsx bench/login-under-attack.ts
 */
import { startBenchStack } from './lib/stack.js';
import { loginUnderAttack } from './scenarios/login-under-attack.js';

const stack = await startBenchStack();
try {
  const result = await loginUnderAttack(stack.urls.gateway);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await stack.stop();
}
