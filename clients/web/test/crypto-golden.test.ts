/**
 * The SDK's crypto module in real headless Chromium (started as the other browser tests start
 * it: harness.ts) opens the golden fixture clients/js/test/fixtures/crypto-golden.json, which
 * Node opens too (clients/js/test/unit/crypto-golden.test.ts): the Argon2id unlock of the golden
 * bundle, the recovery key, the entries, the attachments and the passphrase-encrypted export;
 * and what the browser encrypts, Node decrypts. The module is bundled with esbuild into one
 * script and served from an origin the test answers itself (no server, no network), under the
 * web app's own Content-Security-Policy (hash-wasm's WebAssembly) and under that policy without
 * 'wasm-unsafe-eval', which refuses WebAssembly (the SDK's Argon2id then runs in JavaScript).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../../scripts/lib/tools.js';
import {
  decryptEntry,
  decryptFile,
  fromBase64url,
  toBase64url,
  type UnlockedKeys,
} from '../../js/src/crypto/index.js';
import { contentSecurityPolicy } from '../csp.js';
import { type BrowserHandle, cryptoBrowserBundle, startBrowser } from './harness.js';

const FIXTURE = join(ROOT, 'clients/js/test/fixtures/crypto-golden.json');
const ORIGIN = 'http://journal-golden.test';

interface Golden {
  userId: string;
  passphrase: string;
  recoveryKey: string;
  keys: { masterKey: string; contentKeys: Record<string, string>; currentKid: string };
  entries: { entryId: string; content: unknown; clientUpdatedAt: string | null }[];
  files: { attachmentId: string; meta: unknown; plaintext: string }[];
  export: { type: string; plaintext: string };
}

/**
 * Runs in the page, as plain JavaScript: everything the golden fixture holds, opened there.
 * Keys and bytes come back as base64url, errors as {name, code, attachmentId}.
 */
const OPEN_GOLDEN = `async (g) => {
  const api = globalThis.JournalCrypto;
  const b64 = api.toBase64url;
  const bytes = (s) => api.fromBase64url(s);
  const keysOut = (k) => ({
    userId: k.userId,
    masterKey: b64(k.masterKey),
    contentKeys: Object.fromEntries([...k.contentKeys].map(([kid, key]) => [kid, b64(key)])),
    currentKid: k.currentKid,
  });
  const failure = async (p) => {
    try { await p(); return null; } catch (e) {
      return { name: e.constructor.name, code: e.code, attachmentId: e.attachmentId, entryId: e.entryId };
    }
  };
  const wasmAllowed = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])).then(() => true, () => false);
  const started = performance.now();
  const keys = await api.unlockWithPassphrase(g.userId, g.material, g.passphrase);
  const unlockMs = performance.now() - started;
  const recovered = api.unlockWithRecoveryKey(g.userId, g.material, g.recoveryKey);
  const entries = g.entries.map((e) => api.decryptEntry(keys, e.entryId, e.envelope));
  const files = [];
  for (const f of g.files) {
    const { meta, blob } = await api.decryptFile(keys, f.attachmentId, new Blob([bytes(f.ciphertext)]));
    files.push({ meta, type: blob.type, plaintext: b64(new Uint8Array(await blob.arrayBuffer())) });
  }
  const exported = await api.decryptWithPassphrase(new Blob([bytes(g.export.ciphertext)]), g.export.passphrase);
  const exportOut = { type: exported.type, plaintext: b64(new Uint8Array(await exported.arrayBuffer())) };

  const photo = g.files[0];
  const moved = await failure(() => api.decryptFile(keys, 'another-attachment', new Blob([bytes(photo.ciphertext)])));
  const flipped = bytes(photo.ciphertext);
  flipped[flipped.length - 1] ^= 1;
  const tampered = await failure(() => api.decryptFile(keys, photo.attachmentId, new Blob([flipped])));
  const wrongPassphrase = await failure(() => api.unlockWithPassphrase(g.userId, g.material, g.passphrase + '!'));
  const otherEntry = await failure(async () => api.decryptEntry(keys, 'another-entry', g.entries[0].envelope));

  const made = api.encryptFile(keys, 'made-in-chromium', new Blob([bytes(photo.plaintext)]), { name: 'p.jpg', type: 'image/jpeg' });
  const madeBytes = new Uint8Array(await new Response(made.stream()).arrayBuffer());
  const madeSha = await made.sha256();
  const madeEntry = api.encryptEntry(keys, 'entry-made-in-chromium', { title: 'from Chromium ✓' }, null);

  return {
    userAgent: navigator.userAgent,
    wasmAllowed,
    unlockMs,
    keys: keysOut(keys),
    recovered: keysOut(recovered),
    entries,
    files,
    export: exportOut,
    failures: { moved, tampered, wrongPassphrase, otherEntry },
    made: { ciphertext: b64(madeBytes), sha256: madeSha, entry: madeEntry },
  };
}`;

interface PageResult {
  userAgent: string;
  wasmAllowed: boolean;
  unlockMs: number;
  keys: Golden['keys'] & { userId: string };
  recovered: Golden['keys'] & { userId: string };
  entries: { content: unknown; clientUpdatedAt: string | null }[];
  files: { meta: unknown; type: string; plaintext: string }[];
  export: { type: string; plaintext: string };
  failures: Record<
    string,
    { name: string; code: string; attachmentId?: string; entryId?: string } | null
  >;
  made: { ciphertext: string; sha256: string; entry: unknown };
}

let golden: Golden & Record<string, unknown>;
let script: string;
let chrome: BrowserHandle;

beforeAll(async () => {
  golden = JSON.parse(await readFile(FIXTURE, 'utf8'));
  script = await cryptoBrowserBundle();
  chrome = await startBrowser();
});

afterAll(async () => {
  await chrome?.stop();
});

/**
 * A page at ORIGIN served by the test: an HTML shell with the web app's Content-Security-Policy
 * and the bundle as /crypto.js (script-src 'self').
 */
async function cryptoPage(csp: string): Promise<{ page: Page; errors: string[] }> {
  const context = await chrome.browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route(`${ORIGIN}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/crypto.js')
      return route.fulfill({ contentType: 'text/javascript', body: script });
    if (path === '/')
      return route.fulfill({
        contentType: 'text/html',
        headers: { 'content-security-policy': csp },
        body: '<!doctype html><html><head><script src="/crypto.js"></script></head><body></body></html>',
      });
    return route.fulfill({ status: 404, body: '' });
  });
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction('typeof globalThis.JournalCrypto === "object"');
  return { page, errors };
}

function goldenKeys(): UnlockedKeys {
  return {
    userId: golden.userId,
    masterKey: fromBase64url(golden.keys.masterKey) as Uint8Array,
    contentKeys: new Map(
      Object.entries(golden.keys.contentKeys).map(([kid, k]) => [
        kid,
        fromBase64url(k) as Uint8Array,
      ]),
    ),
    currentKid: golden.keys.currentKid,
  };
}

const APP_CSP = contentSecurityPolicy();
/** The app's policy without 'wasm-unsafe-eval': what a stricter embedding page might send. */
const NO_WASM_CSP = APP_CSP.replace(" 'wasm-unsafe-eval'", '');

describe.each([
  {
    policy: "the web app's Content-Security-Policy (Argon2id in WebAssembly)",
    csp: APP_CSP,
    wasm: true,
  },
  {
    policy: "that policy without 'wasm-unsafe-eval' (Argon2id in JavaScript)",
    csp: NO_WASM_CSP,
    wasm: false,
  },
])('the golden fixture in Chromium, under $policy', ({ csp, wasm }) => {
  let result: PageResult;

  beforeAll(async () => {
    const { page, errors } = await cryptoPage(csp);
    try {
      result = await page.evaluate<PageResult>(`(${OPEN_GOLDEN})(${JSON.stringify(golden)})`);
    } catch (err) {
      throw new Error(`in Chromium: ${String(err)}; console: ${errors.join(' | ')}`);
    } finally {
      await page.context().close();
    }
  }, 120_000);

  it(`is a real Chromium, WebAssembly ${wasm ? 'allowed' : 'refused'} by the policy`, () => {
    expect(result.userAgent).toMatch(/Chrome\/\d+/);
    expect(result.wasmAllowed).toBe(wasm);
  });

  it('unlocks the golden bundle with its passphrase (Argon2id in WebAssembly) and with its recovery key', () => {
    const want = { userId: golden.userId, ...golden.keys };
    expect(result.keys).toEqual(want);
    expect(result.recovered).toEqual(want);
    expect(result.unlockMs).toBeGreaterThan(0);
  });

  it('decrypts the golden entries', () => {
    expect(result.entries).toEqual(
      golden.entries.map((e) => ({ content: e.content, clientUpdatedAt: e.clientUpdatedAt })),
    );
  });

  it('decrypts the golden attachments and export to their bytes, meta and type', () => {
    expect(result.files).toEqual(
      golden.files.map((f) => ({
        meta: f.meta,
        type: (f.meta as { type: string }).type,
        plaintext: f.plaintext,
      })),
    );
    expect(result.export).toEqual({ type: golden.export.type, plaintext: golden.export.plaintext });
  });

  it('refuses a moved or tampered file, another entry and a wrong passphrase, with the SDK errors', () => {
    const photo = golden.files[0]?.attachmentId;
    expect(result.failures.moved).toMatchObject({
      name: 'DecryptionError',
      code: 'decryption_failed',
      attachmentId: 'another-attachment',
    });
    expect(result.failures.tampered).toMatchObject({
      name: 'DecryptionError',
      code: 'decryption_failed',
      attachmentId: photo,
    });
    expect(result.failures.otherEntry).toMatchObject({
      name: 'DecryptionError',
      code: 'decryption_failed',
      entryId: 'another-entry',
    });
    expect(result.failures.wrongPassphrase).toMatchObject({ code: 'wrong_passphrase' });
  });

  it('what Chromium encrypts, Node decrypts (entry and attachment; the SHA-256 is of those bytes)', async () => {
    const keys = goldenKeys();
    expect(decryptEntry(keys, 'entry-made-in-chromium', result.made.entry)).toEqual({
      content: { title: 'from Chromium ✓' },
      clientUpdatedAt: null,
    });
    const bytes = fromBase64url(result.made.ciphertext) as Uint8Array;
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(result.made.sha256);
    const { meta, blob } = await decryptFile(
      keys,
      'made-in-chromium',
      new Blob([bytes as Uint8Array<ArrayBuffer>]),
    );
    expect(meta).toEqual({ name: 'p.jpg', type: 'image/jpeg', size: 1500 });
    expect(toBase64url(new Uint8Array(await blob.arrayBuffer()))).toBe(golden.files[0]?.plaintext);
  });
});
