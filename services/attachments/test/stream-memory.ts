import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startServiceProcess } from '../../../test-support/processes.js';

const _ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;

export interface StreamMemoryResult {
  bytes: number;
  baselineRssMiB: number;
  peakRssMiB: number;
  growthMiB: number;
  uploadMiBps: number;
  downloadMiBps: number;
  samples: number;
  sha256: string;
}

function _newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? _newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** `bytes` of random data, made block by block as the socket asks for it. */
function generated(bytes: number, hash: ReturnType<typeof createHash>): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: BLOCK,
    read() {
      if (sent >= bytes) {
        this.push(null);
        return;
      }
      const block = randomBytes(Math.min(BLOCK, bytes - sent));
      sent += block.length;
      hash.update(block);
      this.push(block);
    },
  });
}

function put(url: string, token: string, bytes: number, body: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/octet-stream',
        'content-length': bytes,
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    pipeline(body, req).catch(reject);
  });
}

function download(url: string, token: string): Promise<{ size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` } });
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET answered ${res.statusCode}`));
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        hash.update(d);
      });
      res.on('end', () => resolve({ size, sha256: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function measureStreamMemory(options: {
  mongoUrl: string;
  redisUrl: string;
  dbName: string;
  bytes: number;
}): Promise<StreamMemoryResult> {
  const kid = 'memory-bench';
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  const token = await new SignJWT({ sid: 'bench' })
    .setProtectedHeader({ alg: 'EdDSA', kid })
    .setSubject('bench-user')
    .setIssuer('journal-auth')
    .setAudience('journal')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);

  const proc = await startServiceProcess('attachments', {
    MONGODB_URL: options.mongoUrl,
    MONGODB_DB_NAME: options.dbName,
    REDIS_URL: options.redisUrl,
    JWT_PUBLIC_KEYS: JSON.stringify({ keys: [jwk] }),
    ATTACHMENTS_MAX_BYTES: String(options.bytes + MiB),
  });
  const pid = proc.child.pid as number;
  try {
    // Warm up the code paths (and the driver's pool) with a small round trip first.
    const warm = createHash('sha256');
    expectStatus(
      await put(`${proc.url}/attachments/warm-up`, token, 4 * MiB, generated(4 * MiB, warm)),
      201,
    );
    await download(`${proc.url}/attachments/warm-up`, token);
    const baseline = rssMiB(pid);
    let peak = baseline;
    let samples = 0;
    const timer = setInterval(() => {
      peak = Math.max(peak, rssMiB(pid));
      samples += 1;
    }, 50);
    try {
      const hash = createHash('sha256');
      let started = Date.now();
      const url = `${proc.url}/attachments/large`;
      expectStatus(await put(url, token, options.bytes, generated(options.bytes, hash)), 201);
      const uploadMs = Date.now() - started;
      const sha256 = hash.digest('hex');
      started = Date.now();
      const back = await download(url, token);
      const downloadMs = Date.now() - started;
      if (back.size !== options.bytes || back.sha256 !== sha256) {
        throw new Error(`downloaded ${back.size} bytes with another digest`);
      }
      peak = Math.max(peak, rssMiB(pid));
      const mib = options.bytes / MiB;
      return {
        bytes: options.bytes,
        baselineRssMiB: round(baseline),
        peakRssMiB: round(peak),
        growthMiB: round(peak - baseline),
        uploadMiBps: round(mib / (uploadMs / 1000)),
        downloadMiBps: round(mib / (downloadMs / 1000)),
        samples,
        sha256,
      };
    } finally {
      clearInterval(timer);
    }
  } finally {
    await proc.stop('SIGTERM');
  }
}

function expectStatus(actual: number, expected: number) {
  if (actual !== expected) throw new Error(`expected HTTP ${expected}, got ${actual}`);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mib = Number(process.argv[2] ?? 200);
  const { startDependencies } = await import('../../../scripts/lib/deps.js');
  const deps = await startDependencies();
  try {
    const result = await measureStreamMemory({
      mongoUrl: deps.mongo.url,
      redisUrl: deps.redis.url,
      dbName: `bench_memory_${Date.now()}`,
      bytes: mib * MiB,
    });
    process.stdout.write(`${JSON.stringify({ mongo: deps.mongo.kind, ...result })}\n`);
    if (result.growthMiB >= 100) {
      process.stderr.write('RSS grew by 100 MiB or more while streaming\n');
      process.exitCode = 1;
    }
  } finally {
    await deps.stop();
  }
}
