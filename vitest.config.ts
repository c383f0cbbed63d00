import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const shared = fileURLToPath(new URL('./shared/src/index.ts', import.meta.url));

export default defineConfig({
  resolve: { alias: { '@journal/shared': shared } },
  test: {
    // Resolves MongoDB and Redis once per run (env URLs, containers, or local processes).
    globalSetup: ['./test-support/global-setup.ts'],
    include: [
      'shared/test/**/*.test.ts',
      'services/*/test/**/*.test.ts',
      'tests/**/*.test.ts',
      'clients/web/test/**/*.test.ts',
    ],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    reporters: ['default', './test-support/summary-reporter.ts'],
  },
});
