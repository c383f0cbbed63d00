import type { TestProject } from 'vitest/node';
import { startDependencies } from '../scripts/lib/deps.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mongoUrl: string;
    redisUrl: string;
  }
}

/** One MongoDB-wire server and one Redis for the whole run; each test file isolates itself. */
export default async function setup(project: TestProject) {
  const deps = await startDependencies();
  project.provide('mongoUrl', deps.mongo.url);
  project.provide('redisUrl', deps.redis.url);
  return async () => {
    await deps.stop();
  };
}
