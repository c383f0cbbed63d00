import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BundleMaterial } from '../../clients/js/src/crypto/index.js';
import { browserCrypto } from '../lib/browser-crypto.js';
import type { Scenario } from '../lib/context.js';
import { TSX } from '../lib/measure.js';
import type { Row } from '../lib/report.js';

const execFileAsync = promisify(execFile);
const FIGURES = fileURLToPath(new URL('../lib/crypto-figures.ts', import.meta.url));

/** An attachment phase of bench/lib/crypto-figures.ts. */
interface Phase {
  seconds: number;
  mibPerSec: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
}

interface NodeFigures {
  node: string;
  userId: string;
  passphrase: string;
  material: BundleMaterial;
  unlockMs: number[];
  mib: number;
  read: Phase;
  encrypt: Phase;
  sha256: Phase;
  decrypt: Phase;
  peakRssMiB: number;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor((xs.length - 1) / 2)] ?? 0;

/** A row of times (ms): the median as the figure, the fastest and slowest beside it. */
function msRow(scenario: string, path: string, times: number[], note: string): Row {
  return {
    scenario,
    path,
    unit: 'ms',
    rate: median(times),
    p50: median(times),
    p99: Math.max(...times),
    errors: 0,
    note: `${times.length} unlocks: ${times.map((t) => t.toFixed(0)).join(', ')} ms; ${note}`,
  };
}

/**
 * End-to-end encryption's costs on the device (issue 25; docs/encryption.md), no server
 * involved: time to unlock (Argon2id at the default m = 64 MiB, t = 3, p = 1) in Node and in
 * headless Chromium; an attachment of `BENCH_CRYPTO_MIB` (64) MiB encrypted and decrypted
 * (MiB/s of plaintext, in Node and Chromium) against just reading the plaintext Blob, with the
 * Node process's peak RSS. `BENCH_CRYPTO_UNLOCKS` (3) unlocks each. The SDK's first sync of an
 * encrypted journal is in scenario 16.
 */
export const encryption: Scenario = {
  name: '25 encryption',
  async run({ report }) {
    const mib = Number(process.env.BENCH_CRYPTO_MIB ?? 64);
    const unlocks = Number(process.env.BENCH_CRYPTO_UNLOCKS ?? 3);
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--expose-gc', TSX, FIGURES, JSON.stringify({ mib, unlocks })],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const node = JSON.parse(stdout) as NodeFigures;
    const kdf = `Argon2id m=${node.material.kdf.m} KiB, t=${node.material.kdf.t}, p=${node.material.kdf.p}`;
    report.rows.push(msRow('25 unlock with the passphrase', 'node', node.unlockMs, kdf));
    const phases: [string, Phase][] = [
      ['read the plaintext Blob (floor)', node.read],
      ['encryptFile (stream read to the end)', node.encrypt],
      [
        "sha256() of the ciphertext (encrypts again and hashes: the upload's first pass)",
        node.sha256,
      ],
      ['decryptFileStream (read to the end)', node.decrypt],
    ];
    for (const [what, p] of phases) {
      report.rows.push({
        scenario: `25 attachment ${mib} MiB: ${what}`,
        path: 'node',
        unit: 'MiB/s',
        rate: p.mibPerSec,
        p50: 0,
        p99: 0,
        errors: 0,
        note: `${p.seconds} s; process RSS ${p.rssBeforeMiB} -> peak ${p.rssPeakMiB} MiB (the ${mib} MiB plaintext held throughout${p === node.decrypt ? ', and its ciphertext' : ''})`,
      });
    }

    const browser = await browserCrypto({
      userId: node.userId,
      passphrase: node.passphrase,
      material: node.material,
      unlocks,
      mib,
    });
    report.rows.push(
      msRow(
        '25 unlock with the passphrase',
        'chromium',
        browser.unlockMs,
        `${kdf} (hash-wasm WebAssembly); Chromium ${browser.browser}`,
      ),
    );
    for (const [what, rate] of [
      ['encryptFile (stream read to the end)', browser.encryptMiBPerSec],
      ['decryptFileStream (read to the end)', browser.decryptMiBPerSec],
    ] as const) {
      report.rows.push({
        scenario: `25 attachment ${mib} MiB: ${what}`,
        path: 'chromium',
        unit: 'MiB/s',
        rate,
        p50: 0,
        p99: 0,
        errors: 0,
        note: `crypto bundle ${browser.bundleKiB} KiB (esbuild, minified)`,
      });
    }
    const { material: _material, passphrase: _passphrase, ...figures } = node;
    report.extras.encryption = { node: figures, chromium: browser };
  },
};
