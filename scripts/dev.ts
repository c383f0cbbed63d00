/**
 * `make dev`: the whole stack on this machine. Starts MongoDB and Redis unless MONGODB_URL /
 * REDIS_URL are given (data under .data/), makes development JWT keys on first run, runs the
 * compiled services and prints the gateway's URL. Ctrl-C stops everything it started.
 */
import { join } from 'node:path';
import { startDependencies } from './lib/deps.js';
import { devStackOptions } from './lib/env.js';
import { loadOrCreateDevKeys } from './lib/keys.js';
import { log } from './lib/proc.js';
import { metricsPort, SERVICES, startStack } from './lib/stack.js';
import { ROOT } from './lib/tools.js';

const deps = await startDependencies({ dataDir: join(ROOT, '.data') });
const keys = await loadOrCreateDevKeys(join(ROOT, '.data', 'dev-keys.json'));
// Every variable the services' config schemas read is passed through (scripts/lib/env.ts).
const options = devStackOptions(process.env, {
  mongoUrl: deps.mongo.url,
  redisUrl: deps.redis.url,
  keys,
});
const { ports } = options;

let stopping = false;
const stack = await startStack(options).catch(async (err: unknown) => {
  log(`could not start the stack: ${(err as Error).message}`);
  await deps.stop();
  process.exit(1);
});

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  log('stopping…');
  await Promise.all(Object.values(stack).map((p) => p.stop()));
  await deps.stop();
  process.exit(code);
}

for (const [name, proc] of Object.entries(stack)) {
  proc.child.once('exit', (exitCode) => {
    if (!stopping) {
      log(`${name} exited (${exitCode}); stopping the stack`);
      void shutdown(1);
    }
  });
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const metricsUrls = SERVICES.map(
  (s) => `    ${s.padEnd(12)} http://localhost:${metricsPort(s, options)}/metrics`,
).join('\n');
process.stderr.write(
  `\n  journal is running: gateway http://localhost:${ports.gateway}\n` +
    `  (auth :${ports.auth}, sync :${ports.sync}, attachments :${ports.attachments}; ` +
    `MongoDB ${deps.mongo.kind}, Redis ${deps.redis.kind}). Ctrl-C stops everything.\n` +
    `  Prometheus metrics (METRICS_PORT, never on the public ports):\n${metricsUrls}\n\n`,
);
