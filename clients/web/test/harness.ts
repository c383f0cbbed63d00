/**
 * The web app's browser-test harness: builds the app with Vite, serves the static build with
 * Vite's preview server forwarding the API paths to a real test stack's gateway (same origin,
 * as in production behind nginx), and starts Debian's headless Chromium through playwright-core.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build as esbuild } from 'esbuild';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';
import { freePort } from '../../../scripts/lib/proc.js';
import { ensureChromium, ROOT } from '../../../scripts/lib/tools.js';
import { apiProxy } from '../vite.config.js';

const WEB_ROOT = resolve(ROOT, 'clients/web');
const CONFIG = join(WEB_ROOT, 'vite.config.ts');
const require = createRequire(import.meta.url);

/** Flags for a sandbox-less headless Chromium that never reaches for the internet. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface WebApp {
  url: string;
  outDir: string;
  stop(): Promise<void>;
}

/** Builds the app into a temporary folder and serves it, proxying the API to `gateway`. */
export async function serveWebApp(gateway: string): Promise<WebApp> {
  const outDir = await mkdtemp(join(tmpdir(), 'journal-web-'));
  await build({
    configFile: CONFIG,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  const port = await freePort();
  const server: PreviewServer = await preview({
    configFile: CONFIG,
    logLevel: 'warn',
    build: { outDir },
    preview: { port, strictPort: true, host: '127.0.0.1', proxy: apiProxy(gateway) },
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    outDir,
    stop: async () => {
      await new Promise<void>((r) => server.httpServer.close(() => r()));
      await rm(outDir, { recursive: true, force: true });
    },
  };
}

export interface BrowserHandle {
  browser: Browser;
  userDataDir: string;
  stop(): Promise<void>;
}

/**
 * Headless Chromium from /usr/bin/chromium. playwright-core refuses `--user-data-dir` in
 * `launch` args because it always passes a new, empty temporary profile folder of its own; HOME
 * points at a fresh folder too, so nothing of the machine's user leaks in. Each `newContext()`
 * is a separate device (own storage, own cookies, own network emulation).
 */
export async function startBrowser(): Promise<BrowserHandle> {
  const executablePath = await ensureChromium();
  const userDataDir = await mkdtemp(join(tmpdir(), 'journal-chromium-'));
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    env: { ...process.env, HOME: userDataDir },
  });
  return {
    browser,
    userDataDir,
    stop: async () => {
      await browser.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

const AXE_PATH = require.resolve('axe-core/axe.min.js');
let axeSource: Promise<string> | undefined;

/**
 * axe-core's serious and critical violations on the page as it is now. axe is evaluated through
 * the DevTools protocol, not added as a <script>: the app's CSP (script-src 'self') refuses an
 * inline script, and that refusal would itself be a violation.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate<boolean>('"axe" in window'))) {
    axeSource ??= readFile(AXE_PATH, 'utf8');
    await page.evaluate(await axeSource);
  }
  const found = await page.evaluate<
    { id: string; impact: string; help: string; targets: string[] }[]
  >(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) =>
      r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.slice(0, 3).map((n) => String(n.target[0])),
      })))`,
  );
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join(', ')})`);
}

/**
 * Records every Content-Security-Policy violation of the context's pages (each page, each
 * reload): the returned array grows as they happen. The listener is installed by the DevTools
 * protocol before any of the page's own scripts, so it is not subject to the policy.
 */
export async function recordCspViolations(context: BrowserContext): Promise<string[]> {
  const seen: string[] = [];
  await context.exposeBinding('__journalCspViolation', (_source, text: string) => {
    seen.push(text);
  });
  await context.addInitScript(`addEventListener('securitypolicyviolation', (e) => {
    window.__journalCspViolation(
      e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber,
    );
  });`);
  return seen;
}

/**
 * The SDK's crypto module (`clients/js/src/crypto`) bundled by esbuild into one browser script
 * that defines `globalThis.JournalCrypto`: what the golden-fixture test and the bench load into
 * a page to run the cryptography in Chromium itself.
 */
export async function cryptoBrowserBundle(options: { minify?: boolean } = {}): Promise<string> {
  const out = await esbuild({
    entryPoints: [join(ROOT, 'clients/js/src/crypto/index.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'JournalCrypto',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    minify: options.minify ?? false,
  });
  const text = out.outputFiles[0]?.text;
  if (!text) throw new Error('esbuild produced nothing');
  return text;
}
