import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import {
  mongoUrl,
  redisUrl,
  signTestToken,
  testKeys,
  uniqueName,
} from '../../test-support/index.js';
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

  it('answers a request in flight at SIGTERM (a waiting long-poll), then exits 0', async () => {
    const keys = await testKeys();
    const proc = await startServiceProcess('sync', {
      MONGODB_URL: mongoUrl(),
      MONGODB_DB_NAME: uniqueName('shutdown'),
      REDIS_URL: redisUrl(),
      JWT_PUBLIC_KEYS: keys.jwks,
      SHUTDOWN_TIMEOUT_MS: '5000',
    });
    started.push(proc);
    const token = await signTestToken(keys, { sub: 'drain-user' });
    const startedAt = Date.now();
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = request(
        `${proc.url}/sync/changes?since=0&wait=20`,
        { headers: { authorization: `Bearer ${token}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    // Once the pull waits (the process counts it), ask the process to stop.
    await expect
      .poll(async () => {
        const text = await (await fetch(`${proc.metricsUrl}/metrics`)).text();
        return /^sync_long_polls_waiting(\{[^}]*\})? 1$/m.test(text);
      })
      .toBe(true);
    proc.child.kill('SIGTERM');
    expect(await inFlight).toBe(200);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(await exited(proc)).toBe(0);
    expect(proc.output()).not.toMatch(/"level":"(error|fatal)"/);
  });
});
