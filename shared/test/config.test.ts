import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  envInt,
  isSecretName,
  loadConfig,
  mongoConfigShape,
  serviceConfigSchema,
} from '../src/config.js';
import { redisTargetFromConfig } from '../src/redis.js';

const schema = serviceConfigSchema({ ...mongoConfigShape, EXTRA_SECRET_KEY: z.string().min(10) });

const good = {
  MONGODB_URL: 'mongodb://localhost:27017/',
  REDIS_URL: 'redis://localhost:6379',
  EXTRA_SECRET_KEY: 'abcdefghijkl',
};

describe('loadConfig', () => {
  it('applies defaults and coerces numbers', () => {
    const config = loadConfig(schema, { ...good, PORT: '3100' });
    expect(config.PORT).toBe(3100);
    expect(config.MONGODB_DB_NAME).toBe('journal');
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.SHUTDOWN_TIMEOUT_MS).toBe(10_000);
  });

  it('names every offending variable in one error', () => {
    try {
      loadConfig(schema, { MONGODB_URL: 'not-a-url', PORT: 'eighty', LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.variables.sort()).toEqual(
        ['EXTRA_SECRET_KEY', 'LOG_LEVEL', 'MONGODB_URL', 'PORT', 'REDIS_URL'].sort(),
      );
      expect(e.message.split('\n')).toHaveLength(1);
      expect(e.message).toContain('MONGODB_URL: must be a mongodb:// or mongodb+srv:// URL');
    }
  });

  it('never puts a value in the message', () => {
    const secret = 'short';
    try {
      loadConfig(schema, {
        ...good,
        EXTRA_SECRET_KEY: secret,
        MONGODB_URL: 'mongo://user:hunter2@x',
      });
      expect.unreachable();
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toContain('EXTRA_SECRET_KEY');
      expect(message).not.toContain(secret);
      expect(message).not.toContain('hunter2');
    }
  });

  it('treats empty strings as unset so defaults apply', () => {
    expect(loadConfig(schema, { ...good, PORT: '' }).PORT).toBe(3000);
  });

  it('bounds integers', () => {
    expect(() => loadConfig(z.object({ N: envInt(1, 5) }), { N: '9' })).toThrow(
      /N: must be at most 5/,
    );
  });

  it('recognises secret variable names', () => {
    expect(isSecretName('QINIU_SECRET_KEY')).toBe(true);
    expect(isSecretName('JWT_PRIVATE_KEY')).toBe(true);
    expect(isSecretName('MONGODB_URL')).toBe(true);
    expect(isSecretName('PORT')).toBe(false);
  });
});

describe('Redis deployment variables', () => {
  const base = { MONGODB_URL: good.MONGODB_URL, EXTRA_SECRET_KEY: good.EXTRA_SECRET_KEY };

  it('reads Sentinels with their master name and passwords', () => {
    const config = loadConfig(schema, {
      ...base,
      REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26379,[::1]:26380',
      REDIS_SENTINEL_NAME: 'journal',
      REDIS_PASSWORD: 'p1-secret',
      REDIS_SENTINEL_PASSWORD: 'p2-secret',
    });
    expect(config.REDIS_SENTINELS).toEqual([
      { host: 'sentinel-0', port: 26379 },
      { host: 'sentinel-1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    expect(redisTargetFromConfig(config)).toEqual({
      kind: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      name: 'journal',
      password: 'p1-secret',
      sentinelPassword: 'p2-secret',
    });
  });

  it('reads Cluster seed nodes; the Sentinel master name defaults to mymaster', () => {
    const config = loadConfig(schema, { ...base, REDIS_CLUSTER_NODES: 'a:7000,b:7001' });
    expect(config.REDIS_SENTINEL_NAME).toBe('mymaster');
    expect(redisTargetFromConfig(config)).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: undefined,
    });
    expect(redisTargetFromConfig(loadConfig(schema, good))).toEqual({
      kind: 'url',
      url: good.REDIS_URL,
    });
  });

  it('requires exactly one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES', () => {
    expect(() => loadConfig(schema, base)).toThrow(
      'REDIS_URL: is required (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES)',
    );
    expect(() =>
      loadConfig(schema, { ...good, REDIS_SENTINELS: 's:26379', REDIS_PASSWORD: 'hunter2' }),
    ).toThrow(
      'REDIS_URL/REDIS_SENTINELS: set exactly one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES',
    );
    expect(() =>
      loadConfig(schema, { ...base, REDIS_SENTINELS: 's:1', REDIS_CLUSTER_NODES: 'c:2' }),
    ).toThrow('REDIS_SENTINELS/REDIS_CLUSTER_NODES: set exactly one');
  });

  it('refuses malformed host:port lists without echoing them', () => {
    for (const bad of ['s', 's:', 's:0', 's:70000', 'a:1,,b:2', 'user:pw@s:1', 'http://s:1']) {
      try {
        loadConfig(schema, { ...base, REDIS_CLUSTER_NODES: bad });
        expect.unreachable(bad);
      } catch (err) {
        expect((err as ConfigError).variables).toEqual(['REDIS_CLUSTER_NODES']);
        expect((err as Error).message).toContain('must be a comma-separated list of host:port');
        if (bad.includes('pw')) expect((err as Error).message).not.toContain('pw');
      }
    }
  });

  it('treats the Redis passwords as secrets', () => {
    expect(isSecretName('REDIS_PASSWORD')).toBe(true);
    expect(isSecretName('REDIS_SENTINEL_PASSWORD')).toBe(true);
  });
});
