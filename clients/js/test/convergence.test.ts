import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { opArb, runScenario, type Scenario, stats } from './convergence-scenario.js';

/**
 * Convergence, property-based: 5 devices (memory, IndexedDB and SQLite stores) make random
 * creates, edits and deletes, go offline and online, while a loopback proxy cuts some
 * connections mid-request and mid-response. Once all are online and idle, every device equals
 * the server, and every device's last edit of each entry was accepted or surfaced as a conflict.
 * Again with end-to-end encryption on, across a passphrase change on one device while the
 * others are offline. The machinery is in convergence-scenario.ts. `make test-sdk-long` (or
 * SDK_CONVERGENCE_RUNS / _OPS / _SEED, SDK_CONVERGENCE_E2E_RUNS / _E2E_OPS) runs it longer.
 */
const RUNS = Number(process.env.SDK_CONVERGENCE_RUNS ?? 3);
const OPS = Number(process.env.SDK_CONVERGENCE_OPS ?? 50);
const SEED = Number(process.env.SDK_CONVERGENCE_SEED ?? 20261201);
const E2E_RUNS = Number(process.env.SDK_CONVERGENCE_E2E_RUNS ?? 2);
const E2E_OPS = Number(process.env.SDK_CONVERGENCE_E2E_OPS ?? 40);
const DEVICES = 5;

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack('sdk-convergence', {
    RATE_LIMIT_AUTHENTICATED_MAX: '1000000',
    RATE_LIMIT_MAX: '1000000',
  });
  dir = await mkdtemp(join(tmpdir(), 'sdk-conv-'));
});
afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the property `runs` times of `ops` operations; resolves with the runs' cuts. */
async function property(
  scenario: () => Scenario,
  runs: number,
  ops: number,
  seed: number,
): Promise<number> {
  const before = { runs: stats.runs, cuts: stats.cuts };
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: ops, maxLength: ops }),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      async (list, faultSeed) => {
        stats.runs++;
        stats.ops += list.length;
        await runScenario(scenario(), list, faultSeed, stats.runs);
      },
    ),
    { seed, numRuns: runs, endOnFailure: true },
  );
  expect(stats.runs - before.runs).toBe(runs);
  return stats.cuts - before.cuts;
}

describe('convergence under random edits, offline periods and cut connections', () => {
  it(
    `${DEVICES} devices converge to the server state (${RUNS} runs × ${OPS} ops, seed ${SEED})`,
    async () => {
      const cuts = await property(() => ({ stack, dir }), RUNS, OPS, SEED);
      console.log(`convergence: ${JSON.stringify(stats)}`);
      expect(cuts).toBeGreaterThan(0);
    },
    Math.max(60_000, RUNS * OPS * 1_500),
  );

  it(
    `${DEVICES} devices converge with end-to-end encryption on, across a passphrase change (${E2E_RUNS} runs × ${E2E_OPS} ops)`,
    async () => {
      const encrypted = { passphrase: 'convergence passphrase one', next: 'and the second one' };
      const cuts = await property(() => ({ stack, dir, encrypted }), E2E_RUNS, E2E_OPS, SEED + 1);
      console.log(`convergence with encryption: ${JSON.stringify(stats)}`);
      expect(cuts).toBeGreaterThan(0);
    },
    Math.max(90_000, E2E_RUNS * E2E_OPS * 2_000),
  );
});
