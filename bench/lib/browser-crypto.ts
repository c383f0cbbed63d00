/**
 * The SDK's crypto module in headless Chromium (/usr/bin/chromium through playwright-core,
 * launched as the web app's browser tests do: clients/web/test/harness.ts): the module bundled
 * with esbuild into one script, loaded into a blank page, then timed there with the page's own
 * clock. `unlockMs`: `unlockWithPassphrase` of `material` (Argon2id in hash-wasm's WebAssembly);
 * `encrypt`/`decrypt`: `mib` MiB of random bytes through `encryptFile`'s stream and
 * `decryptFileStream`, MiB/s of plaintext.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BundleMaterial } from '../../clients/js/src/crypto/index.js';
import { startBrowser } from '../../clients/web/test/harness.js';

const ENTRY = fileURLToPath(new URL('../../clients/js/src/crypto/index.ts', import.meta.url));

/** The crypto module as one browser script defining `globalThis.JournalCrypto`. */
async function bundle(): Promise<string> {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'iife',
    globalName: 'JournalCrypto',
    platform: 'browser',
    target: 'es2022',
    write: false,
    minify: true,
  });
  return out.outputFiles[0]?.text ?? '';
}

/**
 * Runs in the page (plain JavaScript, so no compiler helper leaks into it): the bundle's exports
 * are on `globalThis.JournalCrypto`.
 */
const IN_PAGE = `async (i) => {
  const api = globalThis.JournalCrypto;
  const round = (x) => Math.round(x * 100) / 100;
  const unlockMs = [];
  let keys;
  for (let n = 0; n < i.unlocks; n++) {
    const started = performance.now();
    keys = await api.unlockWithPassphrase(i.userId, i.material, i.passphrase);
    unlockMs.push(round(performance.now() - started));
  }
  const drain = async (stream) => {
    const reader = stream.getReader();
    let bytes = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.byteLength;
    return bytes;
  };
  const plain = new Uint8Array(i.mib * 1024 * 1024);
  for (let at = 0; at < plain.length; at += 65536) crypto.getRandomValues(plain.subarray(at, at + 65536));
  const file = new Blob([plain]);
  const encrypted = api.encryptFile(keys, 'bench-attachment', file, { name: 'photo.jpg', type: 'image/jpeg' });
  let started = performance.now();
  await drain(encrypted.stream());
  const encryptSec = (performance.now() - started) / 1000;
  const cipher = encrypted.blob();
  started = performance.now();
  const { stream } = api.decryptFileStream(keys, 'bench-attachment', cipher.stream());
  const bytes = await drain(stream);
  const decryptSec = (performance.now() - started) / 1000;
  if (bytes !== file.size) throw new Error('decrypted ' + bytes + ' of ' + file.size + ' bytes');
  return { unlockMs, encryptMiBPerSec: round(i.mib / encryptSec), decryptMiBPerSec: round(i.mib / decryptSec) };
}`;

export interface BrowserCryptoFigures {
  browser: string;
  bundleKiB: number;
  unlockMs: number[];
  encryptMiBPerSec: number;
  decryptMiBPerSec: number;
}

export async function browserCrypto(input: {
  userId: string;
  passphrase: string;
  material: BundleMaterial;
  unlocks: number;
  mib: number;
}): Promise<BrowserCryptoFigures> {
  const script = await bundle();
  const handle = await startBrowser();
  try {
    const page = await handle.browser.newPage();
    await page.goto('about:blank');
    await page.addScriptTag({ content: script });
    const figures = await page.evaluate<Omit<BrowserCryptoFigures, 'browser' | 'bundleKiB'>>(
      `(${IN_PAGE})(${JSON.stringify(input)})`,
    );
    return {
      browser: handle.browser.version(),
      bundleKiB: Math.round(script.length / 1024),
      ...figures,
    };
  } finally {
    await handle.stop();
  }
}
