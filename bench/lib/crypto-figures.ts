/**
 * The SDK's end-to-end encryption on this machine's CPU, in a process of its own (so its peak
 * RSS is the crypto's and the data's, not the bench's): argv[2] is JSON `{ mib, unlocks }`;
 * prints JSON on stdout (with the bundle it made and its passphrase, for the same unlock in
 * Chromium).
 * - `unlockMs`: `unlockWithPassphrase` of a bundle made with the default key parameters
 *   (Argon2id m = 64 MiB, t = 3, p = 1, hash-wasm), `unlocks` times;
 * - attachments of `mib` MiB of random bytes: reading the plaintext Blob (the floor), the
 *   ciphertext stream of `encryptFile` (read to the end, nothing kept), its one-pass SHA-256
 *   (which encrypts again: the SDK's first pass of an upload; the second streams the body),
 *   and `decryptFileStream` of the ciphertext (read to the end): MiB/s of plaintext each, and
 *   the process's RSS before and at its peak during each (sampled every 10 ms, and VmHWM).
 * Run by bench/scenarios/encryption.ts; standalone: `npx tsx bench/lib/crypto-figures.ts
 * '{"mib":64,"unlocks":3}'`.
 */
import { readFileSync } from 'node:fs';
import {
  createBundle,
  decryptFileStream,
  encryptFile,
  unlockWithPassphrase,
} from '../../clients/js/src/crypto/index.js';

const MiB = 1024 * 1024;
const o = JSON.parse(process.argv[2] ?? '{}') as { mib?: number; unlocks?: number };
const mib = o.mib ?? 64;
const unlocks = o.unlocks ?? 3;

const rssMiB = () => process.memoryUsage().rss / MiB;
/** The kernel's high-water mark of this process's resident memory (MiB). */
function hwmMiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Times `fn` while sampling RSS; MiB/s of `mib` plaintext, and the RSS it reached. */
async function phase(fn: () => Promise<unknown>) {
  globalThis.gc?.();
  const before = rssMiB();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB());
  }, 10);
  const started = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  peak = Math.max(peak, rssMiB());
  return {
    seconds: round(seconds),
    mibPerSec: round(mib / seconds),
    rssBeforeMiB: Math.round(before),
    rssPeakMiB: Math.round(peak),
  };
}

/** Reads a stream to its end, keeping nothing; returns its byte count. */
async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const userId = 'bench-crypto-user';
const passphrase = 'correct horse battery staple, bench';
const created = await createBundle(userId, passphrase);
const unlockMs: number[] = [];
for (let i = 0; i < unlocks; i++) {
  const started = performance.now();
  await unlockWithPassphrase(userId, created.material, passphrase);
  unlockMs.push(round(performance.now() - started));
}
const keys = created.keys;

// The plaintext: random bytes (incompressible, as photos are), made 64 KiB at a time.
const plain = new Uint8Array(mib * MiB);
for (let at = 0; at < plain.length; at += 65536) {
  globalThis.crypto.getRandomValues(plain.subarray(at, at + 65536));
}
const file = new Blob([plain]);
const attachmentId = 'bench-attachment';
const meta = { name: 'photo.jpg', type: 'image/jpeg' };

const read = await phase(async () => {
  if ((await drain(file.stream())) !== file.size) throw new Error('short read');
});
const encrypted = encryptFile(keys, attachmentId, file, meta);
const encrypt = await phase(async () => {
  if ((await drain(encrypted.stream())) !== encrypted.size) throw new Error('short ciphertext');
});
const sha256 = await phase(() => encrypted.sha256());
// The ciphertext, kept for the decryption (built untimed, outside the phases above).
const parts: Uint8Array[] = [];
const reader = encrypted.stream().getReader();
for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
const cipher = new Blob(parts);
parts.length = 0;
const decrypt = await phase(async () => {
  const { meta: decryptedMeta, stream } = decryptFileStream(keys, attachmentId, cipher.stream());
  const bytes = await drain(stream);
  if (bytes !== file.size || (await decryptedMeta).size !== file.size) {
    throw new Error(`decrypted ${bytes} bytes of ${file.size}`);
  }
});

process.stdout.write(
  JSON.stringify({
    node: process.version,
    // The bundle, for the same unlock in Chromium (bench/lib/browser-crypto.ts).
    userId,
    passphrase,
    material: created.material,
    unlockMs,
    mib,
    cipherBytes: encrypted.size,
    read,
    encrypt,
    sha256,
    decrypt,
    peakRssMiB: Math.round(hwmMiB()),
  }),
);
