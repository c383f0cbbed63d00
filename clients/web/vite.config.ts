import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
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
  plugins: [
    // The service worker (Workbox, generated at build time): the app shell precached, so the app
    // opens with no network; a new deployment waits until the person accepts it ("update
    // available", src/pwa.ts), so a page never runs half of one version and half of another.
    // Not in the dev server: `make dev` keeps Vite's proxy and hot reload as they are.
    VitePWA({
      registerType: 'prompt',
      injectRegister: false,
      devOptions: { enabled: false },
      includeAssets: ['icons/*.png'],
      manifest: {
        name: 'Journal',
        short_name: 'Journal',
        description:
          'Your journal: entries by day, mood and tags, photos, synced between your devices and usable offline.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f6f4ef',
        theme_color: '#2f5d50',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          {
            src: '/icons/maskable-192.png',
            sizes: '192x192',
            type: 'image/png',
            purpose: 'maskable',
          },
          {
            src: '/icons/maskable-512.png',
            sizes: '512x512',
            type: 'image/png',
            purpose: 'maskable',
          },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,png,webmanifest}'],
        // Every address of the app opens the shell offline; the API paths never do.
        navigateFallback: '/index.html',
        navigateFallbackDenylist: API_PATHS.map((p) => new RegExp(`^${p}(/|$)`)),
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: false,
        // Only the app's own files: entries, photos and tokens are never in a cache.
        runtimeCaching: [],
      },
    }),
  ],
  server: {
    port: Number(process.env.WEB_PORT ?? 5173),
    strictPort: true,
    proxy: apiProxy(gateway),
    headers: securityHeaders(true),
  },
  preview: { proxy: apiProxy(gateway), headers: securityHeaders(false) },
});
