import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { documentText, typesText } from '../scripts/generate.js';

const dir = new URL('../', import.meta.url);
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack('sdk-contract');
});
afterAll(async () => {
  await stack?.stop();
});

describe('the SDK knows the contract, not the server code', () => {
  it('the committed openapi.json is exactly the document the gateway serves', async () => {
    const served = (await (await fetch(`${stack.gateway}/openapi.json`)).json()) as unknown;
    const committed = await readFile(new URL('openapi.json', dir), 'utf8');
    // Byte-equal to what `npm run generate -w clients/js` writes: regenerate after an API change.
    expect(committed).toBe(documentText(served));
  });

  it('src/generated/api.ts is openapi-typescript’s rendering of that document', async () => {
    const committed = JSON.parse(await readFile(new URL('openapi.json', dir), 'utf8')) as unknown;
    const types = await readFile(new URL('src/generated/api.ts', dir), 'utf8');
    expect(types).toBe(await typesText(committed));
  });

  it('the core imports nothing from the server, nor Node-only APIs', async () => {
    const src = new URL('src/', dir);
    const files = (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const text = await readFile(new URL(f, src), 'utf8');
      expect(text, f).not.toMatch(/from '(\.\.\/)+(services|shared)|@journal\/(shared|gateway)/);
      if (f === 'sqlite.ts') continue; // Node only, its own export path
      expect(text, f).not.toMatch(/from 'node:|require\(|\bBuffer\.|\bprocess\./);
    }
  });

  it('the package exports ESM with types for . and ./sqlite', async () => {
    const pkg = JSON.parse(await readFile(new URL('package.json', dir), 'utf8')) as {
      type: string;
      exports: Record<string, { types: string; import: string }>;
    };
    expect(pkg.type).toBe('module');
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', import: './dist/index.js' });
    expect(pkg.exports['./sqlite']).toEqual({
      types: './dist/sqlite.d.ts',
      import: './dist/sqlite.js',
    });
  });
});
