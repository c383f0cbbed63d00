import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const shared = fileURLToPath(new URL('./shared/src/index.ts', import.meta.url));
const client = fileURLToPath(new URL('./clients/js/src/index.ts', import.meta.url));
const clientSqlite = fileURLToPath(new URL('./clients/js/src/sqlite.ts', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: '@journal/shared', replacement: shared },
      { find: /^@journal\/client\/sqlite$/, replacement: clientSqlite },
      { find: /^@journal\/client$/, replacement: client },
    ],
  },
  test: {
    // Resolves MongoDB and Redis once per run (env URLs, containers, or local processes).
    globalSetup: ['./test-support/global-setup.ts'],
    include: [
      'shared/test/**/*.test.ts',
      'services/*/test/**/*.test.ts',
      'tests/**/*.test.ts',
      'clients/js/test/**/*.test.ts',
      'clients/web/test/**/*.test.ts',
    ],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    reporters: ['default', './test-support/summary-reporter.ts'],
  },
});
