import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** The API paths the gateway serves; the dev and preview servers forward them (same origin). */
export const API_PATHS = ['/auth', '/sync', '/attachments', '/storage'];

export function apiProxy(target: string) {
  return Object.fromEntries(API_PATHS.map((p) => [p, { target, changeOrigin: false, ws: false }]));
}

const gateway = process.env.JOURNAL_GATEWAY_URL ?? 'http://localhost:8000';

export default defineConfig({
  root: import.meta.dirname,
  // The SDK from its sources (tree-shaken into the app; no separate build step needed).
  resolve: {
    alias: { '@journal/client': resolve(import.meta.dirname, '../js/src/index.ts') },
  },
  build: { outDir: 'dist', target: 'es2022', sourcemap: false },
  server: {
    port: Number(process.env.WEB_PORT ?? 5173),
    strictPort: true,
    proxy: apiProxy(gateway),
  },
  preview: { proxy: apiProxy(gateway) },
});
