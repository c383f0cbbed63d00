import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gitRepository } from '../../lib/references.js';
import { findStructureProblems, isSource, MAX_SOURCE_LINES } from '../../lib/structure.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** The skeleton every service must have, so fixtures only add what they test. */
const SKELETON: Record<string, string> = Object.fromEntries(
  ['auth', 'sync', 'attachments', 'gateway'].flatMap((s) => {
    const files = ['app.ts', 'main.ts', 'config.ts', 'metrics.ts'];
    if (s !== 'gateway') files.push('jobs.ts', 'accounts/deletion.ts');
    return files.map((f) => [`services/${s}/src/${f}`, '']);
  }),
);

function problems(files: Record<string, string>) {
  const all = { ...SKELETON, ...files };
  return findStructureProblems({
    paths: Object.keys(all),
    read: (path) => all[path] ?? '',
  }).map((p) => `${p.rule} ${p.file}`);
}

describe('structure (one shape in every service)', () => {
  it('holds for the repository', () => {
    const found = findStructureProblems(gitRepository(root));
    expect(found.map((p) => `${p.rule} ${p.file}: ${p.detail}`)).toEqual([]);
  });

  it('accepts the skeleton itself', () => {
    expect(problems({})).toEqual([]);
  });

  it('fails on a missing skeleton file', () => {
    const all = { ...SKELETON };
    delete all['services/sync/src/jobs.ts'];
    const found = findStructureProblems({ paths: Object.keys(all), read: () => '' });
    expect(found.map((p) => `${p.rule} ${p.file}`)).toEqual(['skeleton services/sync/src/jobs.ts']);
  });

  it(`fails on a source file over ${MAX_SOURCE_LINES} lines, not on a test or generated file`, () => {
    const long = 'x;\n'.repeat(MAX_SOURCE_LINES + 1);
    const fine = 'x;\n'.repeat(MAX_SOURCE_LINES);
    expect(
      problems({
        'clients/js/src/big.ts': long,
        'clients/js/src/ok.ts': fine,
        'clients/js/test/big.test.ts': long,
        'clients/js/src/generated/api.ts': long,
      }),
    ).toEqual(['size clients/js/src/big.ts']);
    expect(isSource('bench/lib/raw.ts')).toBe(true);
    expect(isSource('tests/e2e/x.e2e.test.ts')).toBe(false);
  });

  it('keeps metrics in metrics.ts and periodic jobs in jobs.ts', () => {
    expect(
      problems({
        'services/sync/src/entries/push.ts': "const c = new Counter({ name: 'x' });",
        'services/sync/src/metrics.ts': "const c = new Counter({ name: 'x' });",
        'services/auth/src/app.ts': 'const purge = periodicJob(run, logger, "x");',
        'services/auth/src/jobs.ts': 'const purge = periodicJob(run, logger, "x");',
        'shared/src/jobs.ts': 'export function periodicJob() {}',
      }),
    ).toEqual(['jobs services/auth/src/app.ts', 'metrics services/sync/src/entries/push.ts']);
  });

  it('keeps routes/ to routes that call their domain service', () => {
    expect(
      problems({
        'services/sync/src/routes/a.ts': "import { createRepo } from '../entries/repository.js';",
        'services/sync/src/routes/b.ts': "import { Counter } from 'prom-client';",
        'services/sync/src/routes/c.ts': "app.addHook('onRequest', guard);",
        'services/sync/src/routes/d.ts': "import type { Service } from '../entries/service.js';",
      }),
    ).toEqual([
      'routes services/sync/src/routes/a.ts',
      'routes services/sync/src/routes/b.ts',
      'routes services/sync/src/routes/c.ts',
    ]);
  });

  it('fails on a service importing another, or shared importing a service', () => {
    expect(
      problems({
        'services/sync/src/x.ts': "import { a } from '../../auth/src/users/service.js';",
        'shared/src/x.ts': "import { a } from '../../services/sync/src/app.js';",
        'services/sync/src/y.ts': "import { a } from '@journal/shared';",
      }),
    ).toEqual(['imports services/sync/src/x.ts', 'imports shared/src/x.ts']);
  });

  it('keeps Redis keys in redis-keys.ts and Lua in redis-scripts.ts', () => {
    expect(
      problems({
        // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of a fixture file.
        'services/sync/src/x.ts': 'const key = `sync:head:${id}`; await redis.get(key);',
        'services/sync/src/y.ts': "await redis.eval(SCRIPT, 1, 'k');",
        'services/sync/src/z.ts': '// the key is `sync:head:<id>`; redis holds it',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of a fixture file.
        'shared/src/redis-keys.ts': 'export const k = (id) => `sync:head:${id}`; // redis',
        'shared/src/redis-scripts.ts': 'redis.defineCommand(name, script);',
      }),
    ).toEqual(['redis services/sync/src/x.ts', 'redis services/sync/src/y.ts']);
  });
});
