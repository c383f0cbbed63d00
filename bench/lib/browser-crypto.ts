import type { BundleMaterial } from '../../clients/js/src/crypto/index.js';
import { cryptoBrowserBundle, startBrowser } from '../../clients/web/test/harness.js';

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
  const script = await cryptoBrowserBundle({ minify: true });
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
