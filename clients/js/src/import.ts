import { unzipSync } from 'fflate';
import type { JournalClient } from './client.js';
import { decryptWithPassphrase } from './crypto/index.js';
import { JournalError } from './errors.js';
import type { EntryContent } from './types.js';
import { ID_PATTERN } from './util.js';

/**
 * Imports a journal from a zip: this SDK's own export (`entries.json`, `attachments.json`,
 * `attachments/<id>`: a full round trip) or Day One's JSON export (`<Journal>.json` and
 * `photos/<md5>.<type>`). Everything is read and checked before anything is written, so a
 * malformed file is refused whole. Ids are derived from the file (the export's own ids, Day
 * One's entry uuid and photo md5), so importing the same file again adds nothing twice: an
 * entry already on this device is left as it is, a photo already uploaded answers the same.
 */

export type ImportFormat = 'journal' | 'dayone';

export interface ImportProgress {
  phase: 'reading' | 'photos' | 'entries';
  done: number;
  total: number;
}

export interface ImportOptions {
  onProgress?: (p: ImportProgress) => void;
  signal?: AbortSignal;
  /** The passphrase of an export made with `exportAll({ passphrase })`. */
  passphrase?: string;
}

export interface ImportSummary {
  format: ImportFormat;
  /** Entries written to this device (they sync like any edit). */
  added: number;
  /** Entries already here (an earlier import of the same file, or the export's own device). */
  skipped: number;
  /** Photos and other attachments uploaded (or found already uploaded). */
  attachments: number;
  /** What was left out, in words (e.g. Day One videos). */
  notes: string[];
}

interface PlannedAttachment {
  id: string;
  path: string;
  contentType: string;
}

interface Plan {
  format: ImportFormat;
  entries: { id: string; content: EntryContent }[];
  attachments: PlannedAttachment[];
  notes: string[];
}

const refuse = (why: string) => new JournalError('validation_failed', why);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const IMAGE_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  jpg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
};

function parseJson(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw refuse(`${name} in this zip is not valid JSON.`);
  }
}

function isoDate(v: unknown, where: string): string {
  const t = typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(t)) throw refuse(`${where} has no valid date.`);
  return new Date(t).toISOString();
}

/** This SDK's export: entries.json (ExportedEntry[]) and the attachments beside it. */
function planJournal(files: Record<string, Uint8Array>, names: string[]): Plan {
  const entries = parseJson(files['entries.json'] as Uint8Array, 'entries.json');
  if (!Array.isArray(entries)) throw refuse('entries.json in this zip is not a list of entries.');
  const plan: Plan = { format: 'journal', entries: [], attachments: [], notes: [] };
  entries.forEach((e, i) => {
    if (!isRecord(e) || typeof e.id !== 'string' || !ID_PATTERN.test(e.id) || !isRecord(e.content))
      throw refuse(`Entry ${i + 1} of entries.json has no valid id or content.`);
    plan.entries.push({ id: e.id, content: e.content as EntryContent });
  });
  const meta = files['attachments.json']
    ? parseJson(files['attachments.json'], 'attachments.json')
    : [];
  const types = new Map<string, string>();
  if (Array.isArray(meta))
    for (const a of meta)
      if (isRecord(a) && typeof a.id === 'string' && typeof a.contentType === 'string')
        types.set(a.id, a.contentType);
  for (const path of names) {
    const m = /^attachments\/([^/]+)$/.exec(path);
    if (!m) continue;
    const id = m[1] as string;
    if (!ID_PATTERN.test(id)) throw refuse(`${path} is not a valid attachment name.`);
    plan.attachments.push({
      id,
      path,
      contentType: types.get(id) ?? 'application/octet-stream',
    });
  }
  return plan;
}

const PHOTO_REF = /!\[[^\]]*\]\(dayone-moment:\/\/[^)]*\)/g;

/** Day One's JSON export: each journal a <name>.json with `entries`, photos in photos/. */
function planDayOne(
  files: Record<string, Uint8Array>,
  journals: string[],
  names: Set<string>,
): Plan {
  const plan: Plan = { format: 'dayone', entries: [], attachments: [], notes: [] };
  const photos = new Map<string, PlannedAttachment>();
  let media = 0;
  for (const name of journals) {
    const doc = parseJson(files[name] as Uint8Array, name);
    if (!isRecord(doc) || !Array.isArray(doc.entries))
      throw refuse(`${name} in this zip is not a Day One journal (it has no entries).`);
    doc.entries.forEach((e, i) => {
      const where = `Entry ${i + 1} of ${name}`;
      if (!isRecord(e) || typeof e.uuid !== 'string' || !/^[A-Za-z0-9-]{1,100}$/.test(e.uuid))
        throw refuse(`${where} has no valid uuid.`);
      const createdAt = isoDate(e.creationDate, where);
      const text = typeof e.text === 'string' ? e.text : '';
      const lines = text.replace(PHOTO_REF, '').replace(/\r\n/g, '\n').split('\n');
      const first = lines.findIndex((l) => l.trim());
      const title = first >= 0 ? (lines[first] as string).replace(/^#+\s*/, '').trim() : '';
      const body =
        first >= 0
          ? lines
              .slice(first + 1)
              .join('\n')
              .trim()
          : '';
      const entryPhotos: { id: string; contentType: string }[] = [];
      for (const p of Array.isArray(e.photos) ? e.photos : []) {
        if (!isRecord(p) || typeof p.md5 !== 'string' || !/^[0-9a-f]{32}$/i.test(p.md5))
          throw refuse(`${where} has a photo without a valid md5.`);
        const type = String(p.type ?? 'jpeg').toLowerCase();
        const path = `photos/${p.md5}.${type}`;
        const contentType = IMAGE_TYPES[type];
        if (!contentType || !names.has(path)) {
          plan.notes.push(`${where}: its photo ${path} is not in the zip (left out).`);
          continue;
        }
        const id = `dayone-${p.md5.toLowerCase()}`;
        photos.set(id, { id, path, contentType });
        entryPhotos.push({ id, contentType });
      }
      media +=
        (Array.isArray(e.videos) ? e.videos.length : 0) +
        (Array.isArray(e.audios) ? e.audios.length : 0) +
        (Array.isArray(e.pdfAttachments) ? e.pdfAttachments.length : 0);
      const tags = Array.isArray(e.tags)
        ? [
            ...new Set(
              e.tags.filter((t): t is string => typeof t === 'string').map((t) => t.toLowerCase()),
            ),
          ]
        : [];
      plan.entries.push({
        id: `dayone-${e.uuid.replace(/-/g, '').toLowerCase()}`.slice(0, 128),
        content: {
          title,
          body,
          mood: '',
          tags,
          photos: entryPhotos,
          createdAt,
          ...(typeof e.timeZone === 'string' ? { timeZone: e.timeZone } : {}),
          ...(e.starred === true ? { starred: true } : {}),
          importedFrom: 'dayone',
        },
      });
    });
  }
  if (media) plan.notes.push(`${media} videos, audio recordings or PDFs were left out.`);
  plan.attachments = [...photos.values()];
  return plan;
}

function readZip(bytes: Uint8Array): { plan: Plan } {
  let files: Record<string, Uint8Array>;
  const names: string[] = [];
  try {
    // First the directory and the JSON files only; attachments are inflated one at a time.
    files = unzipSync(bytes, {
      filter: (f) => {
        names.push(f.name);
        return f.name.endsWith('.json') && !f.name.includes('/');
      },
    });
  } catch {
    throw refuse('This file is not a zip file (or it is damaged).');
  }
  if (files['entries.json']) return { plan: planJournal(files, names) };
  const journals = Object.keys(files).filter((n) => n.endsWith('.json'));
  if (journals.length === 0)
    throw refuse(
      'This zip holds no journal: expected entries.json (this app) or a Day One JSON export.',
    );
  return { plan: planDayOne(files, journals, new Set(names)) };
}

function inflate(bytes: Uint8Array, path: string): Uint8Array {
  const out = unzipSync(bytes, { filter: (f) => f.name === path })[path];
  if (!out) throw refuse(`${path} could not be read from the zip.`);
  return out;
}

const ENCRYPTED_MAGIC = 'JRNLE2E1';

/** The zip's bytes; an export encrypted with a passphrase is decrypted first. */
async function readFile(file: Blob, passphrase: string | undefined): Promise<Uint8Array> {
  const head = new TextDecoder().decode(await file.slice(0, 8).arrayBuffer());
  if (head !== ENCRYPTED_MAGIC) return new Uint8Array(await file.arrayBuffer());
  if (!passphrase) {
    throw new JournalError('passphrase_required', 'This export is encrypted: give its passphrase.');
  }
  const zip = await decryptWithPassphrase(file, passphrase);
  return new Uint8Array(await zip.arrayBuffer());
}

export async function importJournal(
  client: Pick<JournalClient, 'entries' | 'attachments'>,
  file: Blob,
  opts: ImportOptions = {},
): Promise<ImportSummary> {
  const progress = opts.onProgress ?? (() => {});
  const aborted = () => {
    if (opts.signal?.aborted) throw new JournalError('aborted', 'the import was cancelled');
  };
  progress({ phase: 'reading', done: 0, total: 1 });
  const bytes = await readFile(file, opts.passphrase);
  const { plan } = readZip(bytes);
  // Every photo is read before anything is written: a damaged one refuses the whole file.
  const blobs = plan.attachments.map(
    (a) => new Blob([inflate(bytes, a.path) as BlobPart], { type: a.contentType }),
  );
  progress({ phase: 'reading', done: 1, total: 1 });

  let attachments = 0;
  for (const [i, a] of plan.attachments.entries()) {
    aborted();
    progress({ phase: 'photos', done: i, total: plan.attachments.length });
    await client.attachments.upload(a.id, blobs[i] as Blob, { contentType: a.contentType });
    attachments++;
  }
  progress({ phase: 'photos', done: attachments, total: plan.attachments.length });

  let added = 0;
  let skipped = 0;
  for (const [i, e] of plan.entries.entries()) {
    aborted();
    if (i % 25 === 0) progress({ phase: 'entries', done: i, total: plan.entries.length });
    const here = await client.entries.get(e.id);
    if (here && !here.deleted) {
      skipped++;
      continue;
    }
    await client.entries.put(e.id, e.content);
    added++;
  }
  progress({ phase: 'entries', done: plan.entries.length, total: plan.entries.length });
  return { format: plan.format, added, skipped, attachments, notes: plan.notes };
}
