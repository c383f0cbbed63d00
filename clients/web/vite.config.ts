import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { apiOriginOf, contentSecurityPolicy } from './csp.js';

/** The API paths the gateway serves; the dev and preview servers forward them (same origin). */
export const API_PATHS = ['/auth', '/sync', '/attachments', '/storage'];

export function apiProxy(target: string) {
  return Object.fromEntries(API_PATHS.map((p) => [p, { target, changeOrigin: false, ws: false }]));
}

const gateway = process.env.JOURNAL_GATEWAY_URL ?? 'http://localhost:8000';
const apiOrigin = apiOriginOf(process.env.VITE_API_URL);

/** The headers the nginx image sends too (deploy/web/default.conf.template). */
export function securityHeaders(dev: boolean): Record<string, string> {
  return {
    'Content-Security-Policy': contentSecurityPolicy({ dev, ...(apiOrigin ? { apiOrigin } : {}) }),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
}

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
    headers: securityHeaders(true),
  },
  preview: { proxy: apiProxy(gateway), headers: securityHeaders(false) },
});
