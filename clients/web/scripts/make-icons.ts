/**
 * Draws the app's icons (the journal's green book, as the favicon) as PNG files in public/icons:
 * 192 and 512 px, "any" (rounded) and "maskable" (full bleed, the book inside the safe zone).
 * No image library: pixels, then zlib and a CRC, the PNG format by hand.
 * Run: npx tsx clients/web/scripts/make-icons.ts
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

type RGBA = [number, number, number, number];
const GREEN: RGBA = [0x2f, 0x5d, 0x50, 255];
const SPINE: RGBA = [0x23, 0x46, 0x3c, 255];
const PAGE: RGBA = [0xf6, 0xf4, 0xef, 255];
const LINE: RGBA = [0xb9, 0xc9, 0xc2, 255];
const CLEAR: RGBA = [0, 0, 0, 0];

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

function png(size: number, pixel: (x: number, y: number) => RGBA): Buffer {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) raw.set(pixel(x, y), y * (size * 4 + 1) + 1 + x * 4);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The book in a unit square: a page with lines and a spine, `inset` from the edges. */
function icon(size: number, maskable: boolean) {
  const r = maskable ? 0 : size * 0.18; // corner radius of the background
  const inset = maskable ? 0.26 : 0.2;
  return png(size, (px, py) => {
    const x = (px + 0.5) / size;
    const y = (py + 0.5) / size;
    // Rounded background.
    const cx = Math.min(Math.max(px + 0.5, r), size - r);
    const cy = Math.min(Math.max(py + 0.5, r), size - r);
    if (r > 0 && (px + 0.5 - cx) ** 2 + (py + 0.5 - cy) ** 2 > r * r) return CLEAR;
    const left = inset + 0.04;
    const right = 1 - inset;
    const top = inset;
    const bottom = 1 - inset;
    if (x < left || x > right || y < top || y > bottom) return GREEN;
    if (x < left + (right - left) * 0.18) return SPINE;
    // Lines of writing on the page.
    const row = (y - top) / (bottom - top);
    const inLine = row > 0.2 && row < 0.85 && (row * 8) % 1 < 0.22;
    const lineEnd = right - (right - left) * (row > 0.7 ? 0.35 : 0.1);
    if (inLine && x > left + (right - left) * 0.28 && x < lineEnd) return LINE;
    return PAGE;
  });
}

const dir = join(import.meta.dirname, '..', 'public', 'icons');
for (const size of [192, 512]) {
  await writeFile(join(dir, `icon-${size}.png`), icon(size, false));
  await writeFile(join(dir, `maskable-${size}.png`), icon(size, true));
}
await writeFile(join(dir, 'apple-touch-icon.png'), icon(180, true));
console.log(`wrote the icons to ${dir}`);
