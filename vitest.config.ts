import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const shared = fileURLToPath(new URL('./shared/src/index.ts', import.meta.url));
const client = fileURLToPath(new URL('./clients/js/src/index.ts', import.meta.url));
const clientSqlite = fileURLToPath(new URL('./clients/js/src/sqlite.ts', import.meta.url));

/**
 * Test tiers (see CONTRIBUTING in README.md, "Tests"). A new package's tests join a tier by one
 * line: its `test/unit/**` files are unit tests already (the glob below is repository-wide);
 * add its other tests to `integration` (or `e2e`) here, e.g. `'clients/js/test/**\/*.test.ts'`.
 */
const UNIT = '**/test/unit/**/*.test.ts';
const NOT_UNIT = ['**/node_modules/**', '**/dist/**', UNIT];

/** Starts (once per run, shared by every tier that needs it) a real MongoDB-wire server and Redis. */
const servers = ['./test-support/global-setup.ts'];

export default defineConfig({
  resolve: {
    alias: [
      { find: '@journal/shared', replacement: shared },
      { find: /^@journal\/client\/sqlite$/, replacement: clientSqlite },
      { find: /^@journal\/client$/, replacement: client },
    ],
  },
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 180_000,
    teardownTimeout: 30_000,
    // expect.poll gives up after 1 s by default: too short for anything that crosses a process,
    // FerretDB or a browser on a loaded 2-core CI machine. A poll only waits while it fails.
    expect: { poll: { timeout: 10_000 } },
    reporters: ['default', './test-support/summary-reporter.ts'],
    projects: [
      {
        // Pure logic: no servers, no processes, no globalSetup; seconds for the whole tier.
        extends: true,
        test: { name: 'unit', include: [UNIT], exclude: ['**/node_modules/**', '**/dist/**'] },
      },
      {
        // One package at a time against the real servers (apps in-process or as processes).
        extends: true,
        test: {
          name: 'integration',
          include: [
            'shared/test/**/*.test.ts',
            'services/*/test/**/*.test.ts',
            'tests/sharding/**/*.test.ts',
          ],
          exclude: NOT_UNIT,
          globalSetup: servers,
        },
      },
      {
        // The whole stack as real processes, through the gateway; faults and hostile clients.
        extends: true,
        test: {
          name: 'e2e',
          include: [
            'tests/e2e/**/*.test.ts',
            'tests/reliability/**/*.test.ts',
            // The client SDK against a whole stack (test-support/stack.ts).
            'clients/js/test/**/*.test.ts',
            // The web app in headless Chromium against a whole stack.
            'clients/web/test/**/*.test.ts',
          ],
          exclude: NOT_UNIT,
          globalSetup: servers,
        },
      },
      {
        // The chart, compose files, Dockerfile and nginx configuration (make deploy-check).
        extends: true,
        test: {
          name: 'deploy',
          include: ['tests/deploy/**/*.test.ts'],
          exclude: NOT_UNIT,
          globalSetup: servers,
        },
      },
    ],
  },
});
