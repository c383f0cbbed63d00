import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, log, type ManagedProcess, onPath, startProcess, waitForPort } from './proc.js';
import { ensureFerretdb, ensureRedisServer } from './tools.js';

export interface Dependency {
  url: string;
  /** How it was resolved: env, container, mongod, ferretdb, redis-server. */
  kind: string;
  stop(): Promise<void>;
}

export interface Dependencies {
  mongo: Dependency;
  redis: Dependency;
  stop(): Promise<void>;
}

export interface DependencyOptions {
  /** Keep data here between runs (make dev); a fresh temporary folder when absent (tests). */
  dataDir?: string;
  /** Fixed ports for make dev; free ports otherwise. */
  mongoPort?: number;
  redisPort?: number;
}

/** Does a Docker engine answer on its socket? (The docker CLI alone is not enough.) */
export async function dockerEngineAnswers(): Promise<boolean> {
  const socketPath = process.env.DOCKER_HOST?.startsWith('unix://')
    ? process.env.DOCKER_HOST.slice('unix://'.length)
    : '/var/run/docker.sock';
  if (process.env.DOCKER_HOST && !process.env.DOCKER_HOST.startsWith('unix://')) return true;
  if (!existsSync(socketPath)) return false;
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function container(
  image: string,
  port: number,
  urlOf: (host: string, port: number) => string,
) {
  const { GenericContainer } = await import('testcontainers');
  const started = await new GenericContainer(image).withExposedPorts(port).start();
  return {
    url: urlOf(started.getHost(), started.getMappedPort(port)),
    kind: `container ${image}`,
    stop: async () => {
      await started.stop();
    },
  };
}

/** A redis-server process on loopback; `restart()` lets tests take it down and up again. */
export async function spawnRedis(options: { port?: number; dir?: string } = {}) {
  const binary = await ensureRedisServer();
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'journal-redis-')));
  await mkdir(dir, { recursive: true });
  let proc: ManagedProcess | undefined;
  const start = async () => {
    proc = startProcess('redis-server', binary, [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      options.dir ? '60 1' : '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
    ]);
    await waitForPort(port, 15_000, 'redis-server', proc.child);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kind: 'redis-server',
    start,
    stop: async () => {
      await proc?.stop();
    },
    /** Stops the process and removes a temporary data folder. */
    destroy: async () => {
      await proc?.stop();
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** mongod when it is on PATH, else FerretDB (SQLite backend). */
export async function spawnMongo(options: { port?: number; dir?: string } = {}) {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'journal-mongo-')));
  await mkdir(dir, { recursive: true });
  const mongod = await onPath('mongod');
  let proc: ManagedProcess | undefined;
  let kind: string;
  let start: () => Promise<void>;
  if (mongod) {
    kind = 'mongod';
    start = async () => {
      proc = startProcess('mongod', mongod, [
        '--dbpath',
        dir,
        '--port',
        String(port),
        '--bind_ip',
        '127.0.0.1',
      ]);
      await waitForPort(port, 30_000, 'mongod', proc.child);
    };
  } else {
    const ferretdb = await ensureFerretdb();
    kind = 'ferretdb';
    start = async () => {
      proc = startProcess('ferretdb', ferretdb, [
        '--handler=sqlite',
        `--sqlite-url=file:${dir}/`,
        `--state-dir=${dir}`,
        `--listen-addr=127.0.0.1:${port}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ]);
      await waitForPort(port, 30_000, 'ferretdb', proc.child);
    };
  }
  await start();
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    port,
    kind,
    start,
    stop: async () => {
      await proc?.stop();
    },
    destroy: async () => {
      await proc?.stop();
      if (!options.dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves MongoDB and Redis in README.md's order (its opening): MONGODB_URL/REDIS_URL if set;
 * else containers when a Docker engine answers; else local processes.
 */
export async function startDependencies(options: DependencyOptions = {}): Promise<Dependencies> {
  const docker =
    !(process.env.MONGODB_URL && process.env.REDIS_URL) && (await dockerEngineAnswers());

  const resolveMongo = async (): Promise<Dependency> => {
    if (process.env.MONGODB_URL)
      return { url: process.env.MONGODB_URL, kind: 'env', stop: async () => {} };
    if (docker) return container('mongo:7', 27017, (h, p) => `mongodb://${h}:${p}/`);
    const m = await spawnMongo({
      ...(options.mongoPort ? { port: options.mongoPort } : {}),
      ...(options.dataDir ? { dir: join(options.dataDir, 'mongo') } : {}),
    });
    return { url: m.url, kind: m.kind, stop: m.destroy };
  };
  const resolveRedis = async (): Promise<Dependency> => {
    if (process.env.REDIS_URL)
      return { url: process.env.REDIS_URL, kind: 'env', stop: async () => {} };
    if (docker) return container('redis:7', 6379, (h, p) => `redis://${h}:${p}`);
    const r = await spawnRedis({
      ...(options.redisPort ? { port: options.redisPort } : {}),
      ...(options.dataDir ? { dir: join(options.dataDir, 'redis') } : {}),
    });
    return { url: r.url, kind: r.kind, stop: r.destroy };
  };

  const [mongo, redis] = await Promise.all([resolveMongo(), resolveRedis()]);
  log(`MongoDB: ${mongo.kind} ${mongo.kind === 'env' ? '' : mongo.url}`);
  log(`Redis: ${redis.kind} ${redis.kind === 'env' ? '' : redis.url}`);
  return {
    mongo,
    redis,
    stop: async () => {
      await Promise.all([mongo.stop(), redis.stop()]);
    },
  };
}
