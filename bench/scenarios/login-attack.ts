import type { Scenario } from '../lib/context.js';
import { loginUnderAttack } from './login-under-attack.js';

/**
 * A bystander's login latency while one address floods auth with failing logins (issue 15):
 * p99 before and during the attack, and every status each side got.
 */
export const loginAttack: Scenario = {
  name: '15 login under attack',
  async run({ stack, report }) {
    const r = await loginUnderAttack(stack.urls.gateway);
    report.extras.loginUnderAttack = r;
    const bad = Object.entries(r.statuses)
      .filter(([k]) => k.startsWith('bystander') && !k.endsWith(' 200'))
      .reduce((n, [, c]) => n + c, 0);
    report.rows.push({
      scenario: '15 bystander login under attack',
      path: 'gateway',
      unit: 'p99 ms',
      rate: r.p99UnderAttack,
      p50: 0,
      p99: r.p99UnderAttack,
      errors: bad,
      note: `p99 without the attack ${r.p99Baseline.toFixed(0)} ms; statuses ${JSON.stringify(r.statuses)}`,
    });
  },
};
