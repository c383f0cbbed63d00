import { randomBytes, randomInt } from 'node:crypto';

/** A fresh canary: id-safe (it can be a path segment), never produced by anything else. */
export const canary = (label: string) => `cnry${label}${randomBytes(9).toString('hex')}`;
/** A date canary for the entry's own date field (`createdAt` of clients/web/src/model.ts). */
export const dateCanary = () => new Date(Date.UTC(1970, 0, 1) + randomInt(2 ** 40)).toISOString();

/** Adds `value` to `set` (the canaries of one kind) and returns it. */
export const mark = (set: string[], value: string) => {
  set.push(value);
  return value;
};

/** An entry of the reference app (clients/web/src/model.ts), every field a canary of `set`. */
export function entry(
  set: string[],
  label: string,
  photos: { id: string; contentType: string }[] = [],
) {
  return {
    title: mark(set, canary(`${label}title`)),
    body: `Dear diary, ${mark(set, canary(`${label}body`))} and nothing else.`,
    mood: mark(set, canary(`${label}mood`)),
    tags: [mark(set, canary(`${label}tagA`)), mark(set, canary(`${label}tagB`))],
    photos,
    createdAt: mark(set, dateCanary()),
  };
}

/** A 1×1 JPEG (`file` reads: progressive, precision 8, 1 component): the smallest usual one. */
const TINY_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////' +
    '////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgB' +
    'AQABPxA=',
  'base64',
);

const u16be = (n: number) => Buffer.from([n >> 8, n & 0xff]);

/**
 * A small JPEG whose EXIF (an APP1 segment right after SOI, as cameras write it) holds `text`
 * as the image description (TIFF tag 0x010E, ASCII): what a photo's metadata carries.
 */
export function jpegWithExif(text: string): Buffer {
  const description = Buffer.from(`${text}\0`, 'latin1');
  // Little-endian TIFF: header (8 bytes), an IFD of one entry (2 + 12 + 4), then the string.
  const tiff = Buffer.alloc(26 + description.length);
  tiff.write('II', 0, 'latin1');
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(8, 4);
  tiff.writeUInt16LE(1, 8);
  tiff.writeUInt16LE(0x010e, 10);
  tiff.writeUInt16LE(2, 12);
  tiff.writeUInt32LE(description.length, 14);
  tiff.writeUInt32LE(26, 18);
  tiff.writeUInt32LE(0, 22);
  description.copy(tiff, 26);
  const exif = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), u16be(exif.length + 2), exif]);
  const tail = TINY_JPEG.subarray(2);
  const eoi = tail.subarray(-2).equals(Buffer.from([0xff, 0xd9]))
    ? []
    : [Buffer.from([0xff, 0xd9])];
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app1, tail, ...eoi]);
}
