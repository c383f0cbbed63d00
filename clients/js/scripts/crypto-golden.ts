/**
 * Writes clients/js/test/fixtures/crypto-golden.json: a key bundle, entries, attachments and a
 * passphrase-encrypted export made once by the SDK's crypto module and kept, so that every later
 * version of the SDK (in Node: test/unit/crypto-golden.test.ts; in Chromium:
 * clients/web/test/crypto-golden.test.ts) must still open exactly these bytes.
 *
 *   npx tsx clients/js/scripts/crypto-golden.ts [--force]
 *
 * The fixture is golden: regenerate it (--force) only for a deliberate format change, with a new
 * format version in docs/encryption.md, since old data in users' accounts would stop opening.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  addContentKey,
  createBundle,
  encryptEntry,
  encryptFile,
  encryptWithPassphrase,
  toBase64url,
} from '../src/crypto/index.js';

const OUT = fileURLToPath(new URL('../test/fixtures/crypto-golden.json', import.meta.url));

async function bytesOf(blob: Blob): Promise<Uint8Array> {
  return new Uint8Array(await blob.arrayBuffer());
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return bytesOf(await new Response(stream).blob());
}

/** A deterministic, non-repeating-looking byte pattern of `length` bytes. */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function main(): Promise<void> {
  if (existsSync(OUT) && !process.argv.includes('--force')) {
    console.error(`${OUT} exists: it is golden (see this script's comment); --force to replace it`);
    process.exit(1);
  }
  const userId = 'golden-user-7f3a9c';
  // Typed with fullwidth letters and a combining accent: NFKC makes it "correct horse
  // battery staple café ☃", which must open the bundle too.
  const passphrase = 'ｃｏｒｒｅｃｔ horse battery staple cafe\u0301 ☃';
  const created = await createBundle(userId, passphrase);
  // A second content key, made current: the first entry stays under the first kid.
  const firstKid = created.keys.currentKid;
  const rotated = addContentKey(created.keys, created.material);
  const keys = rotated.keys;
  const material = rotated.material;

  const oldKeys = { ...keys, currentKid: firstKid };
  const entries = [
    {
      entryId: 'entry-golden-1',
      content: { title: 'First day', body: 'Under the first content key.', mood: 3, tags: ['a'] },
      clientUpdatedAt: '2026-12-01T08:00:00.000Z',
      keys: oldKeys,
    },
    {
      entryId: 'entry-golden-2',
      content: {
        title: 'Ünïcödé ✓ 日本語 🙂',
        body: 'x'.repeat(300),
        date: '2026-12-02',
        attachments: [{ id: 'att-golden-photo', name: 'photo.jpg' }],
      },
      clientUpdatedAt: null,
      keys,
    },
    { entryId: 'entry-golden-3', content: {}, clientUpdatedAt: '2026-12-03T09:30:00.000Z', keys },
  ].map((e) => ({
    entryId: e.entryId,
    content: e.content,
    clientUpdatedAt: e.clientUpdatedAt,
    envelope: encryptEntry(e.keys, e.entryId, e.content, e.clientUpdatedAt),
  }));

  const fileSpecs = [
    {
      attachmentId: 'att-golden-photo',
      meta: { name: 'photo.jpg', type: 'image/jpeg' },
      plain: pattern(1500, 1),
    },
    {
      attachmentId: 'att-golden-empty',
      meta: { name: 'empty.txt', type: 'text/plain' },
      plain: new Uint8Array(0),
    },
  ];
  const files = [];
  for (const f of fileSpecs) {
    const sealed = encryptFile(
      keys,
      f.attachmentId,
      new Blob([f.plain as Uint8Array<ArrayBuffer>]),
      f.meta,
    );
    const ciphertext = await drain(sealed.stream());
    files.push({
      attachmentId: f.attachmentId,
      meta: { ...f.meta, size: f.plain.length },
      plaintext: toBase64url(f.plain),
      ciphertext: toBase64url(ciphertext),
      sha256: await sealed.sha256(),
    });
  }

  const exportPassphrase = 'export passphrase, kept apart';
  const exportPlain = pattern(700, 2);
  const exported = await encryptWithPassphrase(
    new Blob([exportPlain as Uint8Array<ArrayBuffer>], { type: 'application/zip' }),
    exportPassphrase,
  );

  const fixture = {
    about:
      'Golden data of docs/encryption.md, made once by clients/js/scripts/crypto-golden.ts. Never regenerate it to make a test pass: every SDK must open these bytes.',
    userId,
    passphrase,
    passphraseNfkc: passphrase.normalize('NFKC'),
    recoveryKey: created.recoveryKey,
    material,
    keys: {
      masterKey: toBase64url(keys.masterKey),
      contentKeys: Object.fromEntries(
        [...keys.contentKeys].map(([kid, k]) => [kid, toBase64url(k)]),
      ),
      currentKid: keys.currentKid,
    },
    entries,
    files,
    export: {
      passphrase: exportPassphrase,
      type: 'application/zip',
      plaintext: toBase64url(exportPlain),
      ciphertext: toBase64url(await bytesOf(exported)),
    },
  };
  await writeFile(OUT, `${JSON.stringify(fixture, null, 2)}\n`);
  console.log(`wrote ${OUT}`);
}

await main();
