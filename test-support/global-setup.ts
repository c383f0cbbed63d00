import type { TestProject } from 'vitest/node';
import { type Dependencies, startDependencies } from '../scripts/lib/deps.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
  }
}

/**
 * Every tier that needs servers (integration, e2e, deploy) names this file, and vitest runs it
 * once per tier; the tiers run in one process, so the servers are started by the first and
 * stopped after the last (a count on `globalThis`: each tier loads this module afresh).
 */
interface Shared {
  deps: Promise<Dependencies>;
  users: number;
}
const KEY = Symbol.for('journal.test.dependencies');
const slot = globalThis as unknown as Record<symbol, Shared | undefined>;

/** One MongoDB-wire server and one Redis for the whole run; each test file isolates itself. */
export default async function setup(project: TestProject) {
  slot[KEY] ??= { deps: startDependencies(), users: 0 };
  const shared = slot[KEY];
  shared.users++;
  const deps = await shared.deps;
  project.provide('mongoUrl', deps.mongo.url);
  project.provide('redisUrl', deps.redis.url);
  return async () => {
    shared.users--;
    if (shared.users > 0) return;
    slot[KEY] = undefined;
    await deps.stop();
  };
}
