import autocannon from 'autocannon';

/**
 * The load generator, run as a process of its own (bench/lib/measure.ts spawns it) so its CPU
 * is never mixed with the bench process': reads options as JSON from argv[2], warms up (JIT,
 * connection pools) without recording, then prints autocannon's result as JSON on stdout.
 */
const o = JSON.parse(process.argv[2] ?? '{}') as {
  url: string;
  method: 'GET' | 'POST' | 'PUT';
  headers: Record<string, string>;
  body?: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
};
const result = await autocannon({
  url: o.url,
  method: o.method,
  headers: o.headers,
  ...(o.body !== undefined ? { body: o.body } : {}),
  connections: o.connections,
  duration: o.durationSec,
  ...(o.warmupSec > 0 ? { warmup: { connections: o.connections, duration: o.warmupSec } } : {}),
});
process.stdout.write(JSON.stringify(result));
