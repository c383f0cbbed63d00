import { posix } from 'node:path';
import type { RepositoryFiles } from './references.js';

/**
 * The repository's skeleton as rules a test holds (scripts/test/unit/structure.test.ts), so the
 * shape every service shares cannot drift file by file (docs/architecture.md, "One shape in
 * every service"):
 *
 * - no source file over `MAX_SOURCE_LINES` lines (tests and generated code aside);
 * - every storage service (auth, sync, attachments) has the same files for the same concerns:
 *   `app.ts` (wiring), `main.ts`, `config.ts`, `metrics.ts` (every metric it defines),
 *   `jobs.ts` (every periodic job it runs) and `accounts/deletion.ts` (its part of account
 *   deletion); the gateway has `app.ts`, `main.ts`, `config.ts` and `metrics.ts`;
 * - metrics are defined (`new Counter|Gauge|Histogram|Summary`) only in a service's
 *   `metrics.ts` or in `shared/`; periodic jobs (`periodicJob(`) only in a service's `jobs.ts`
 *   or in `shared/`;
 * - `routes/` holds only routes: no metric, no hook, no decorator, no storage client, and no
 *   import of a repository (a route calls its domain's service, never past it);
 * - services never import each other, and `shared/` imports no service;
 * - every Redis key and channel is built in `shared/src/redis-keys.ts`, and Lua runs only
 *   through `shared/src/redis-scripts.ts` (no `defineCommand` or `eval` elsewhere).
 */

export const MAX_SOURCE_LINES = 300;

export const STORAGE_SERVICES = ['auth', 'sync', 'attachments'] as const;
export const SERVICES = [...STORAGE_SERVICES, 'gateway'] as const;

export interface StructureProblem {
  file: string;
  rule: string;
  detail: string;
}

/** Source files: TypeScript that ships or runs tooling, not tests, not generated, not built. */
export function isSource(path: string): boolean {
  if (!/\.(ts|mts)$/.test(path) || path.endsWith('.d.ts')) return false;
  if (/(^|\/)(test|tests|dist|node_modules|generated)\//.test(path)) return false;
  if (/\.test\.ts$/.test(path) || path.startsWith('tests/')) return false;
  return /^(services\/[^/]+\/src|shared\/src|clients\/[^/]+\/src|scripts|test-support|bench)\//.test(
    path,
  );
}

function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

/** Import specifiers of a module (static imports and re-exports). */
export function importsOf(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map(
    (m) => m[1] as string,
  );
}

const METRIC = /\bnew\s+(Counter|Gauge|Histogram|Summary)\s*[<(]/;
const JOB = /\bperiodicJob\s*\(/;
const RAW_LUA = /\.(defineCommand|eval|evalsha)\s*\(/;
/** A Redis key family written as a literal (`` `session:${…}` ``, `'quota:{…'`) in a file using Redis. */
const KEY_LITERAL = /['`](session|sync:(head|recent|idem|user)|quota|ratelimit):[^\s'`]/;
const USES_REDIS = /\bredis\b/i;

/** The text without comment lines (`//`, `/*`, ` *`), so prose naming a key is not code. */
function codeOf(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
    .join('\n');
}

function serviceOf(path: string): string | null {
  return /^services\/([^/]+)\/src\//.exec(path)?.[1] ?? null;
}

export function findStructureProblems(repo: RepositoryFiles): StructureProblem[] {
  const problems: StructureProblem[] = [];
  const add = (file: string, rule: string, detail: string) => problems.push({ file, rule, detail });
  const paths = new Set(repo.paths);

  for (const service of SERVICES) {
    const required = ['app.ts', 'main.ts', 'config.ts', 'metrics.ts'];
    if ((STORAGE_SERVICES as readonly string[]).includes(service)) {
      required.push('jobs.ts', 'accounts/deletion.ts');
    }
    for (const file of required) {
      const path = `services/${service}/src/${file}`;
      if (!paths.has(path)) add(path, 'skeleton', `every ${service} service needs ${file}`);
    }
  }

  for (const path of repo.paths) {
    if (!isSource(path)) continue;
    const source = repo.read(path);
    const lines = lineCount(source);
    const text = codeOf(source);
    if (lines > MAX_SOURCE_LINES) {
      add(path, 'size', `${lines} lines (at most ${MAX_SOURCE_LINES}): split it by concern`);
    }
    const service = serviceOf(path);
    const inShared = path.startsWith('shared/src/');
    const local = path.replace(/^services\/[^/]+\/src\//, '');
    if (service && METRIC.test(text) && local !== 'metrics.ts') {
      add(path, 'metrics', 'metrics are defined in the service’s src/metrics.ts');
    }
    if (service && JOB.test(text) && local !== 'jobs.ts') {
      add(path, 'jobs', 'periodic jobs are made in the service’s src/jobs.ts');
    }
    if ((service || inShared) && RAW_LUA.test(text) && path !== 'shared/src/redis-scripts.ts') {
      add(path, 'redis', 'Lua runs through defineScripts (shared/src/redis-scripts.ts)');
    }
    if (
      (service || inShared) &&
      USES_REDIS.test(text) &&
      KEY_LITERAL.test(text) &&
      path !== 'shared/src/redis-keys.ts'
    ) {
      add(path, 'redis', 'Redis keys are built in shared/src/redis-keys.ts');
    }
    for (const spec of importsOf(text)) {
      const target = spec.startsWith('.')
        ? posix.normalize(posix.join(posix.dirname(path), spec))
        : spec;
      const other = serviceOf(`${target}/`) ?? /^services\/([^/]+)\//.exec(target)?.[1] ?? null;
      if (service && other && other !== service) {
        add(path, 'imports', `imports ${spec}: services never import each other`);
      }
      if (inShared && /^services\//.test(target)) {
        add(path, 'imports', `imports ${spec}: shared/ imports no service`);
      }
      if (service && local.startsWith('routes/')) {
        if (/(^|\/)repository(\.js)?$|-repository(\.js)?$/.test(spec)) {
          add(path, 'routes', `imports ${spec}: a route calls its domain's service, not its store`);
        }
        if (spec === 'mongodb' || spec === 'ioredis' || spec === 'prom-client') {
          add(path, 'routes', `imports ${spec}: routes/ holds only routes`);
        }
      }
    }
    if (service && local.startsWith('routes/') && /\.(addHook|decorate\w*)\s*\(/.test(text)) {
      add(path, 'routes', 'hooks and decorators belong to app.ts or the domain, not routes/');
    }
  }
  return problems;
}
