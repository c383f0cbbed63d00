/**
 * `make dev`: the whole stack on this machine. Starts MongoDB and Redis unless MONGODB_URL /
 * REDIS_URL are given (data under .data/), makes development JWT keys on first run, runs the
 * compiled services and the web app's Vite dev server (which forwards the API paths to the
 * gateway, so the app is same-origin and needs no CORS), and prints both URLs. Ctrl-C stops
 * everything it started.
 */
import { join } from 'node:path';
import { createServer as createViteServer } from 'vite';
import { apiProxy } from '../clients/web/vite.config.js';
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

const webPort = Number(process.env.WEB_PORT ?? 5173);
let stopping = false;
const stack = await startStack(options).catch(async (err: unknown) => {
  log(`could not start the stack: ${(err as Error).message}`);
  await deps.stop();
  process.exit(1);
});

// The web app (clients/web) with hot reload; its API calls go to the gateway through the proxy.
const web = await createViteServer({
  configFile: join(ROOT, 'clients', 'web', 'vite.config.ts'),
  logLevel: 'warn',
  server: {
    port: webPort,
    strictPort: true,
    proxy: apiProxy(`http://127.0.0.1:${ports.gateway}`),
  },
});
await web.listen().catch((err: unknown) => {
  log(`the web app could not start on port ${webPort} (${(err as Error).message}); set WEB_PORT`);
});

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  log('stopping…');
  await web.close();
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
  `\n  journal is running: gateway http://localhost:${ports.gateway}, ` +
    `web app http://localhost:${webPort}\n` +
    `  (auth :${ports.auth}, sync :${ports.sync}, attachments :${ports.attachments}; ` +
    `MongoDB ${deps.mongo.kind}, Redis ${deps.redis.kind}). Ctrl-C stops everything.\n` +
    `  Prometheus metrics (METRICS_PORT, never on the public ports):\n${metricsUrls}\n\n`,
);
