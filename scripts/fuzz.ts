/**
 * make fuzz: contract fuzzing with schemathesis against a whole stack started like `make dev`
 * (dependencies on free ports, a database of its own). FUZZ_EXAMPLES sets the examples per
 * operation (default 200). Exits non-zero on any 5xx or schema-violating response.
 */
import { randomBytes } from 'node:crypto';
import { startDependencies } from './lib/deps.js';
import { FUZZ_ENV, runSchemathesis } from './lib/fuzz.js';
import { generateSigningKey } from './lib/keys.js';
import { freePort, log } from './lib/proc.js';
import { freeMetricsPorts, startStack } from './lib/stack.js';

const deps = await startDependencies();
const ports = {
  gateway: await freePort(),
  auth: await freePort(),
  sync: await freePort(),
  attachments: await freePort(),
};
const stack = await startStack({
  mongoUrl: deps.mongo.url,
  redisUrl: deps.redis.url,
  keys: await generateSigningKey('fuzz'),
  ports,
  metricsPorts: await freeMetricsPorts(),
  dbName: `fuzz_${Date.now()}`,
  logLevel: 'warn',
  output: 'inherit',
  env: { ...FUZZ_ENV, PASSWORD_SCRYPT_LOG_N: '14' },
});
const gateway = `http://127.0.0.1:${ports.gateway}`;
let code = 1;
try {
  const res = await fetch(`${gateway}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      username: `fuzz_${randomBytes(4).toString('hex')}`,
      password: randomBytes(12).toString('hex'),
    }),
  });
  const { accessToken } = (await res.json()) as { accessToken: string };
  const result = await runSchemathesis({
    gateway,
    token: accessToken,
    maxExamples: Number(process.env.FUZZ_EXAMPLES ?? 200),
    print: true,
  });
  log(`schemathesis generated ${result.requests} requests; exit code ${result.exitCode}`);
  code = result.exitCode;
} finally {
  await Promise.all(Object.values(stack).map((p) => p.stop()));
  await deps.stop();
}
process.exit(code);
