import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiOriginOf, contentSecurityPolicy } from '../../csp.js';

const ROOT = join(import.meta.dirname, '..', '..', '..', '..');

const directives = (policy: string) =>
  Object.fromEntries(
    policy
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name, values]),
  );

describe('the web app Content-Security-Policy', () => {
  it('is strict: own scripts only, no plugins, no <base>, never framed, connects to its origin', () => {
    const d = directives(contentSecurityPolicy());
    // WebAssembly may compile (Argon2id of end-to-end encryption); no eval, no inline script.
    expect(d['script-src']).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(d['object-src']).toEqual(["'none'"]);
    expect(d['base-uri']).toEqual(["'none'"]);
    expect(d['frame-ancestors']).toEqual(["'none'"]);
    expect(d['connect-src']).toEqual(["'self'"]);
    expect(d['style-src']).toEqual(["'self'"]);
    expect(contentSecurityPolicy()).not.toMatch(/'unsafe-eval'|'unsafe-inline'|\*/);
  });

  it('allows inline styles only for the dev server, and a separate gateway origin only when set', () => {
    expect(directives(contentSecurityPolicy({ dev: true }))['style-src']).toEqual([
      "'self'",
      "'unsafe-inline'",
    ]);
    expect(directives(contentSecurityPolicy({ dev: true }))['script-src']).toEqual([
      "'self'",
      "'wasm-unsafe-eval'",
    ]);
    const apiOrigin = apiOriginOf('https://api.example.com/base/path');
    expect(apiOrigin).toBe('https://api.example.com');
    expect(directives(contentSecurityPolicy({ apiOrigin }))['connect-src']).toEqual([
      "'self'",
      'https://api.example.com',
    ]);
    expect(apiOriginOf('not a url')).toBeUndefined();
    expect(apiOriginOf(undefined)).toBeUndefined();
  });

  it('is the policy the nginx image sends', async () => {
    const conf = await readFile(join(ROOT, 'deploy/web/default.conf.template'), 'utf8');
    const sent = /add_header Content-Security-Policy "([^"]+)"/.exec(conf)?.[1];
    expect(sent).toBe(contentSecurityPolicy());
  });
});
