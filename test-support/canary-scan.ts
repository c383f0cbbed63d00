import type { Redis } from 'ioredis';
import { Binary, BSON, type Db } from 'mongodb';
import { decodeBody, type Exchange } from './recording-proxy.js';

/**
 * Canary scanning for "the server sees nothing" (docs/encryption.md): every form a canary could
 * take in a store (plain, hex in either case, standard and URL-safe base64 at each of the three
 * alignments a canary can have inside a longer encoded byte string), searched in text and in
 * raw bytes (a Buffer is searched as latin1, byte for byte).
 */

export interface Needle {
  form: string;
  text: string;
}

/** The base64 characters that depend on the canary alone, behind `shift` bytes of anything. */
function base64Core(bytes: Buffer, shift: number, url: boolean): string {
  const full = Buffer.concat([Buffer.alloc(shift), bytes]).toString(url ? 'base64url' : 'base64');
  return full.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6));
}

export function needlesOf(canary: string): Needle[] {
  const bytes = Buffer.from(canary, 'utf8');
  const out: Needle[] = [
    { form: 'plain', text: bytes.toString('latin1') },
    { form: 'hex', text: bytes.toString('hex') },
    { form: 'HEX', text: bytes.toString('hex').toUpperCase() },
  ];
  for (const shift of [0, 1, 2]) {
    out.push({ form: `base64+${shift}`, text: base64Core(bytes, shift, false) });
    out.push({ form: `base64url+${shift}`, text: base64Core(bytes, shift, true) });
  }
  // Standard and URL-safe are the same string when the canary's base64 has no + or /.
  return out.filter((n, i) => out.findIndex((m) => m.text === n.text) === i);
}

export interface Hit {
  canary: string;
  store: string;
  where: string;
  form: string;
}

/** Searches text (or bytes, as latin1) for every canary in every form. */
export class CanaryScanner {
  readonly hits: Hit[] = [];
  /** What was searched, per store: items (documents, keys, objects, lines, bodies), bytes. */
  readonly searched = new Map<string, { items: number; bytes: number }>();
  private readonly needles: { canary: string; needle: Needle }[];

  constructor(canaries: string[]) {
    this.needles = canaries.flatMap((canary) =>
      needlesOf(canary).map((needle) => ({ canary, needle })),
    );
  }

  /** Counts one item of `store` (a document, a key, an object, a body). */
  count(store: string, bytes: number): void {
    const s = this.searched.get(store) ?? { items: 0, bytes: 0 };
    s.items++;
    s.bytes += bytes;
    this.searched.set(store, s);
  }

  /** Counts and searches one item. */
  item(store: string, where: string, haystack: string | Buffer): void {
    this.count(store, haystack.length);
    this.scan(store, where, haystack);
  }

  scan(store: string, where: string, haystack: string | Buffer): void {
    const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
    if (typeof haystack !== 'string') this.scanUtf16(store, where, haystack);
    for (const { canary, needle } of this.needles) {
      if (text.includes(needle.text)) this.hits.push({ canary, store, where, form: needle.form });
    }
  }

  /** Strings kept as UTF-16 (little-endian) in a binary value. */
  private scanUtf16(store: string, where: string, bytes: Buffer): void {
    if (bytes.length < 32) return;
    const text = bytes.toString('latin1');
    for (const { canary, needle } of this.needles) {
      if (needle.form !== 'plain') continue;
      if (text.includes(Buffer.from(canary, 'utf16le').toString('latin1'))) {
        this.hits.push({ canary, store, where, form: 'utf16le' });
      }
    }
  }

  hitsOf(canaries: Iterable<string>): Hit[] {
    const set = new Set(canaries);
    return this.hits.filter((h) => set.has(h.canary));
  }

  /**
   * Every document of every collection of `db` as canonical EJSON text (binary as base64), and
   * each binary value (GridFS and our chunk collections) decoded to its bytes.
   */
  async scanMongo(db: Db, store = 'mongo'): Promise<void> {
    for (const { name } of await db.listCollections({}, { nameOnly: true }).toArray()) {
      if (name.startsWith('system.')) continue;
      for await (const doc of db.collection(name).find({})) {
        const id = BSON.EJSON.stringify(doc._id ?? null);
        const text = BSON.EJSON.stringify(doc, { relaxed: false });
        this.count(store, text.length);
        this.scan(store, `${name} ${id}`, text);
        for (const { path, bytes } of binariesOf(doc)) {
          this.count(`${store} (binary, decoded)`, bytes.length);
          this.scan(store, `${name} ${id} ${path} (decoded binary)`, bytes);
        }
      }
    }
  }

  /** Every key under `prefix` (the name and the value of whatever type, binary-safe). */
  async scanRedis(redis: Redis, prefix: string, store = 'redis'): Promise<void> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    for (const key of new Set(keys)) {
      const type = await redis.type(key);
      const parts: Buffer[] = [Buffer.from(key)];
      if (type === 'string') parts.push((await redis.getBuffer(key)) ?? Buffer.alloc(0));
      else if (type === 'hash') {
        for (const [f, v] of Object.entries(await redis.hgetallBuffer(key)))
          parts.push(Buffer.from(f), v);
      } else if (type === 'list') parts.push(...(await redis.lrangeBuffer(key, 0, -1)));
      else if (type === 'set') parts.push(...(await redis.smembersBuffer(key)));
      else if (type === 'zset') parts.push(...(await redis.zrangeBuffer(key, 0, -1, 'WITHSCORES')));
      else if (type === 'stream') {
        const entries = (await redis.xrangeBuffer(key, '-', '+')) as [Buffer, Buffer[]][];
        for (const [id, fields] of entries) parts.push(id, ...fields);
      } else if (type !== 'none') parts.push(Buffer.from(`unreadable type ${type}`));
      const bytes = Buffer.concat(parts.flatMap((p) => [p, Buffer.from('\n')]));
      this.count(store, bytes.length);
      this.scan(store, `${key} (${type})`, bytes);
    }
  }
}

/** Every BSON binary inside a document, with its path. */
function binariesOf(value: unknown, path = ''): { path: string; bytes: Buffer }[] {
  if (value instanceof Binary) return [{ path, bytes: Buffer.from(value.buffer) }];
  if (Buffer.isBuffer(value) || value instanceof Uint8Array)
    return [{ path, bytes: Buffer.from(value) }];
  if (Array.isArray(value)) return value.flatMap((v, i) => binariesOf(v, `${path}[${i}]`));
  if (value && typeof value === 'object' && value.constructor === Object) {
    return Object.entries(value).flatMap(([k, v]) => binariesOf(v, path ? `${path}.${k}` : k));
  }
  return [];
}

/** The method line, URL and headers of a request or an answer, as text. */
function headOf(ex: Exchange, side: 'request' | 'response'): string {
  return side === 'request'
    ? `${ex.method} ${ex.url}\n${JSON.stringify(ex.requestHeaders)}\n`
    : `${ex.status ?? 'no answer'}\n${JSON.stringify(ex.responseHeaders)}\n`;
}

/**
 * Every recorded exchange, each side under the store `http:<phase at its start>:<side>`: head and
 * body (decompressed per its Content-Encoding). Returns how many bodies could not be decoded.
 */
export function scanHttp(scanner: CanaryScanner, exchanges: Exchange[]): number {
  let undecoded = 0;
  for (const ex of exchanges) {
    for (const side of ['request', 'response'] as const) {
      const headers = side === 'request' ? ex.requestHeaders : ex.responseHeaders;
      const chunks = side === 'request' ? ex.requestChunks : ex.responseChunks;
      const { bytes, decoded } = decodeBody(chunks, headers['content-encoding']);
      if (!decoded) undecoded++;
      const store = `http:${ex.phase}:${side}`;
      const whole = Buffer.concat([Buffer.from(headOf(ex, side)), bytes]);
      scanner.count(store, whole.length);
      scanner.scan(store, `#${ex.seq} ${ex.method} ${ex.url.split('?')[0]} → ${ex.status}`, whole);
    }
  }
  return undecoded;
}

/** The stores hit (`http:<phase>:<side>` counted as `http`). */
export const stores = (hits: Hit[]) => [...new Set(hits.map((h) => h.store.split(':')[0]))].sort();
export const show = (hits: Hit[]) =>
  hits.map((h) => `${h.canary} ${h.form} in ${h.store} ${h.where}`);

/** What was searched, per store, and how many hits. */
export function summary(scanner: CanaryScanner): string {
  const rows = [...scanner.searched].map(([s, n]) => `${s}: ${n.items} items, ${n.bytes} bytes`);
  return `canary scan: ${scanner.hits.length} hits (${stores(scanner.hits).join(', ')})\n${rows.join('\n')}`;
}
