import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { connectRedis, sessionKey } from '@journal/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, signTestToken, testKeys, testRedis } from '../../../test-support/index.js';
import { type ServiceProcess, startServiceProcess } from '../../../test-support/processes.js';
import { blocks, sha256Of, startUpstream, type Upstream } from './helpers.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.GATEWAY_STREAM_MIB ?? 128) * MiB;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

describe('memory while streaming through the gateway process', () => {
  let gateway: ServiceProcess;
  let ups: Upstream[];
  let token: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const raw = await testRedis('gwmem');
    const redis = await connectRedis(redisUrl(), { options: { keyPrefix: raw.keyPrefix } });
    const keys = await testKeys();
    const sid = randomBytes(8).toString('hex');
    await redis.set(sessionKey(sid), JSON.stringify({ userId: 'mem-user' }), 'EX', 600);
    token = await signTestToken(keys, { sub: 'mem-user', sid });
    ups = [
      await startUpstream('auth'),
      await startUpstream('sync'),
      await startUpstream('attachments'),
    ];
    gateway = await startServiceProcess('gateway', {
      REDIS_URL: redisUrl(),
      REDIS_KEY_PREFIX: raw.keyPrefix,
      JWT_PUBLIC_KEYS: keys.jwks,
      AUTH_URL: (ups[0] as Upstream).url,
      SYNC_URL: (ups[1] as Upstream).url,
      ATTACHMENTS_URL: (ups[2] as Upstream).url,
      ATTACHMENTS_MAX_BYTES: String(SIZE),
    });
    cleanup = async () => {
      redis.disconnect();
      await raw.cleanup();
    };
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    for (const u of ups ?? []) await u.close();
    await cleanup?.();
  });

  it('streams a 128 MiB (GATEWAY_STREAM_MIB) upload and download with RSS growth under 100 MiB', async () => {
    const pid = gateway.child.pid as number;
    const warm = await fetch(`${gateway.url}/attachments/warm`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(warm.status).toBe(200);
    await warm.arrayBuffer();
    const baseline = rssMiB(pid);
    let peak = baseline;
    let samples = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
      samples++;
    }, 25);
    try {
      const uploaded = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const url = new URL(`${gateway.url}/attachments/big-file`);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'PUT',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/octet-stream',
              'content-length': String(SIZE),
            },
          },
          (res) => {
            let body = '';
            res.on('data', (d) => {
              body += d;
            });
            res.on('end', () => resolve(JSON.parse(body)));
          },
        );
        req.on('error', reject);
        pipeline(Readable.from(blocks(SIZE)), req).catch(reject);
      });
      expect(uploaded.bytes).toBe(SIZE);
      expect(uploaded.sha256).toBe(sha256Of(SIZE));

      const down = await fetch(`${gateway.url}/attachments/big?bytes=${SIZE}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(down.status).toBe(200);
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of down.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        n += chunk.length;
      }
      expect(n).toBe(SIZE);
      expect(hash.digest('hex')).toBe(sha256Of(SIZE));
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - baseline;
    console.info(
      `gateway stream memory: ${SIZE / MiB} MiB up and down, RSS baseline ${baseline.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB, growth ${growth.toFixed(1)} MiB (${samples} samples)`,
    );
    expect(samples).toBeGreaterThan(10);
    expect(growth).toBeLessThan(100);
  }, 120_000);
});
