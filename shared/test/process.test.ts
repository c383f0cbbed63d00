import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { mongoUrl, redisUrl, uniqueName } from '../../test-support/index.js';
import { exited, startServiceProcess } from '../../test-support/processes.js';

const started: Awaited<ReturnType<typeof startServiceProcess>>[] = [];
afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
});

describe('service processes', () => {
  it('exits non-zero with one line naming MONGODB_URL when it is not a URL', async () => {
    const proc = await startServiceProcess(
      'sync',
      { MONGODB_URL: 'not-a-url', REDIS_URL: redisUrl(), LOG_LEVEL: 'info' },
      { waitForPort: false },
    );
    started.push(proc);
    const code = await exited(proc);
    expect(code).toBe(1);
    const lines = proc.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sync: Invalid configuration: MONGODB_URL: /);
    expect(lines[0]).not.toContain('not-a-url');
  });

  it('answers the request in flight at SIGTERM, then exits 0', async () => {
    const proc = await startServiceProcess('sync', {
      MONGODB_URL: mongoUrl(),
      MONGODB_DB_NAME: uniqueName('shutdown'),
      REDIS_URL: redisUrl(),
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    started.push(proc);
    // Hold a request open by sending headers and half a body, then signal the process.
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = request(
        `${proc.url}/health`,
        { method: 'GET', headers: { connection: 'close' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    proc.child.kill('SIGTERM');
    expect(await inFlight).toBe(200);
    expect(await exited(proc)).toBe(0);
    expect(proc.output()).not.toMatch(/"level":"(error|fatal)"/);
  });
});
