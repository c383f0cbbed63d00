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
