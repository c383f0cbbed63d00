import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUZZ_ENV, runSchemathesis } from '../../scripts/lib/fuzz.js';
import { ensureSchemathesis } from '../../scripts/lib/schemathesis.js';
import { client, registerUser } from '../../test-support/client.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * A short contract-fuzzing run inside make test (make fuzz runs a long one): schemathesis
 * generates requests for every operation of the gateway's OpenAPI document, authenticated, and
 * fails on any 5xx or any response that doesn't match the documented schema and content type.
 */
let stack: TestStack;

beforeAll(async () => {
  await ensureSchemathesis();
  stack = await startTestStack('fuzz', { LOG_LEVEL: 'warn', ...FUZZ_ENV });
}, 300_000);

afterAll(() => stack?.stop());

describe('contract fuzzing', () => {
  it('finds no 5xx and no response off the documented schema', async () => {
    const user = await registerUser(client(stack.gateway), 'fuzz');
    const result = await runSchemathesis({
      gateway: stack.gateway,
      token: user.accessToken,
      maxExamples: Number(process.env.FUZZ_EXAMPLES ?? 10),
    });
    process.stdout.write(`\nschemathesis: ${result.requests} requests generated\n`);
    expect(result.exitCode, result.output.slice(-4000)).toBe(0);
    expect(result.requests).toBeGreaterThan(100);
  }, 300_000);
});
