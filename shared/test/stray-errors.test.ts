import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type ManagedProcess,
  startProcess,
  waitForPort,
} from '../../scripts/lib/proc.js';
import { ROOT } from '../../scripts/lib/tools.js';
import { redisUrl } from '../../test-support/index.js';
import { buildAll, exited } from '../../test-support/processes.js';

/**
 * A stray rejection or exception (what a third-party SDK leaves behind when its host is down)
 * is logged and counted by runService, never the end of the process: a real process.
 */

const started: ManagedProcess[] = [];
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
});

function counter(text: string, kind: string): number {
  const match = new RegExp(
    `^process_stray_errors_total\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)$`,
    'm',
  ).exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

describe('stray errors', () => {
  it('logs and counts an unhandled rejection and an uncaught exception, and keeps serving; SIGTERM still exits 0', async () => {
    await buildAll();
    const [port, metricsPort] = [await freePort(), await freePort()];
    const proc = startProcess(
      'stray',
      process.execPath,
      [join(ROOT, 'shared', 'test', 'fixtures', 'stray-errors-service.mjs')],
      {
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'test',
          LOG_LEVEL: 'info',
          HOST: '127.0.0.1',
          PORT: String(port),
          METRICS_PORT: String(metricsPort),
          REDIS_URL: redisUrl(),
        },
        cwd: ROOT,
        output: 'pipe',
      },
    );
    started.push(proc);
    let output = '';
    proc.child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    proc.child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    await waitForPort(port, 30_000, 'stray', proc.child);
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const before = await metrics();
    expect(counter(before, 'unhandledRejection')).toBe(0);
    expect(counter(before, 'uncaughtException')).toBe(0);

    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/stray`, { method: 'POST' });
      expect(res.status).toBe(200);
    }
    await expect
      .poll(async () => {
        const text = await metrics();
        return [counter(text, 'unhandledRejection'), counter(text, 'uncaughtException')];
      })
      .toEqual([3, 3]);
    expect(proc.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    // The log lines are written asynchronously (pino): waited for, not read at once.
    await expect.poll(() => output).toContain('unhandled rejection (contained)');
    await expect.poll(() => output).toContain('uncaught exception (contained)');
    expect(output).toContain('stray rejection from an SDK');
    // Only the first line of a message is logged: an SDK's request dump stays out of the logs.
    expect(output).not.toContain('Qiniu ak:sign');
    expect(output).not.toContain('shutting down after an error');

    proc.child.kill('SIGTERM');
    expect(await exited(proc)).toBe(0);
  });
});
