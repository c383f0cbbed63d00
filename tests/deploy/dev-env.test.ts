import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  devPorts,
  devStackOptions,
  passthroughEnv,
  SERVICE_VARIABLES,
  STACK_VARIABLES,
} from '../../scripts/lib/env.js';
import { generateSigningKey } from '../../scripts/lib/keys.js';
import { type ServiceName, serviceEnv } from '../../scripts/lib/stack.js';
import { ROOT } from '../../scripts/lib/tools.js';
import { type ConfigSchema, loadConfigSchemas, SERVICES, type Service } from './lib.js';

let schemas: Record<Service, ConfigSchema>;
let keys: Awaited<ReturnType<typeof generateSigningKey>>;
beforeAll(async () => {
  schemas = await loadConfigSchemas();
  keys = await generateSigningKey('dev-env-test');
});

/** A value no default could produce, naming the variable. */
const marker = (name: string) => `from-the-shell-${name.toLowerCase()}`;

describe('make dev passes through every variable the services read', () => {
  it('reads the variable lists from the config schemas themselves', () => {
    for (const service of SERVICES)
      expect([...SERVICE_VARIABLES[service]].sort(), service).toEqual(
        Object.keys(schemas[service].shape).sort(),
      );
    // Not only the prefixes the first version passed.
    expect(SERVICE_VARIABLES.auth).toContain('AUTH_LOGIN_MAX_FAILURES_PER_IP');
    expect(SERVICE_VARIABLES.gateway).toContain('UPSTREAM_TIMEOUT_MS');
    expect(SERVICE_VARIABLES.sync).toContain('SYNC_PURGE_INTERVAL_SECONDS');
  });

  it('gives each service every variable its schema reads from the shell, except what the stack sets itself', () => {
    const shell: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const service of SERVICES)
      for (const name of Object.keys(schemas[service].shape)) shell[name] = marker(name);
    const options = devStackOptions(shell, {
      mongoUrl: 'mongodb://m',
      redisUrl: 'redis://r',
      keys,
    });
    for (const service of SERVICES) {
      const env = serviceEnv(service as ServiceName, options);
      for (const name of Object.keys(schemas[service].shape)) {
        if (STACK_VARIABLES.has(name))
          expect(env[name], `${service} ${name}`).not.toBe(marker(name));
        else expect(env[name], `${service} ${name}`).toBe(marker(name));
      }
      // Nothing a service does not read (another service's secrets stay with it).
      for (const name of Object.keys(env))
        if (env[name] === marker(name))
          expect(Object.keys(schemas[service].shape), `${service} ${name}`).toContain(name);
    }
  });

  it('keeps the stack’s own ports and addresses, and passes nothing empty', () => {
    const shell = {
      PORT: '8100',
      METRICS_PORT: '1',
      AUTH_URL: 'http://elsewhere:1',
      RATE_LIMIT_MAX: '',
      AUTH_REGISTER_MAX_PER_IP: '7',
    };
    const options = devStackOptions(shell, {
      mongoUrl: 'mongodb://m',
      redisUrl: 'redis://r',
      keys,
    });
    expect(devPorts(shell)).toEqual({ gateway: 8100, auth: 8101, sync: 8102, attachments: 8103 });
    const gateway = serviceEnv('gateway', options);
    expect(gateway.PORT).toBe('8100');
    expect(gateway.METRICS_PORT).toBe('9100');
    expect(gateway.AUTH_URL).toBe('http://127.0.0.1:8101');
    expect(gateway.RATE_LIMIT_MAX).toBeUndefined();
    expect(gateway.REDIS_URL).toBe('redis://r');
    expect(serviceEnv('sync', options).METRICS_PORT).toBe('9102');
    expect(serviceEnv('auth', options).AUTH_REGISTER_MAX_PER_IP).toBe('7');
    expect(passthroughEnv(shell).gateway).not.toHaveProperty('AUTH_REGISTER_MAX_PER_IP');
    // Each service's whole environment parses with its schema.
    for (const service of SERVICES) {
      const env = serviceEnv(service as ServiceName, options) as Record<string, string>;
      const result = schemas[service].safeParse(
        Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')),
      );
      expect(result.error?.issues ?? [], service).toEqual([]);
    }
  });

  it('scripts/dev.ts builds its stack with devStackOptions, not a list of prefixes', () => {
    const dev = readFileSync(join(ROOT, 'scripts', 'dev.ts'), 'utf8');
    expect(dev).toContain('devStackOptions(process.env');
    expect(dev).not.toMatch(/QINIU_\|/);
  });

  it('documents every variable of every schema in the README configuration table', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .join('\n');
    for (const service of SERVICES)
      for (const name of Object.keys(schemas[service].shape))
        expect(table, `${service} ${name}`).toContain(`\`${name}\``);
  });
});
