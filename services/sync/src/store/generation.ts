import { randomBytes } from 'node:crypto';
import { distinctWarnings, isDuplicateKey, type Logger } from '@journal/shared';
import type { Db } from 'mongodb';

/**
 * The store's generation (docs/sync.md, "Restores and the store's generation"): a random id
 * that names the store's revision sequence. Revisions are only comparable within one
 * generation: a restore brings back an older sequence whose revisions above the backup will be
 * issued again for other versions, so `make restore` writes a new generation, and a pull that
 * carries another one answers `410 resync_required` instead of continuing from a cursor the
 * restored store never issued.
 *
 * One document, `sync_meta` `{ _id: 'generation', value, at }`: created at sync's start-up when
 * absent (the first replica's insert wins, the others read it), replaced by a restore, and
 * re-read by every sync process every `refreshMs` (one find by `_id`), so a restore reaches
 * running processes without a restart.
 */
export const GENERATION_COLLECTION = 'sync_meta';
export const GENERATION_ID = 'generation';
/** How often a running process re-reads the generation (ms). */
export const GENERATION_REFRESH_MS = 10_000;

interface GenerationDoc {
  _id: string;
  value: string;
  at: Date;
}

/** A fresh generation id: 22 characters of base64url (the API accepts `[A-Za-z0-9_-]{1,64}`). */
export function newGenerationId(): string {
  return randomBytes(16).toString('base64url');
}

function collection(db: Db) {
  return db.collection<GenerationDoc>(GENERATION_COLLECTION);
}

/** The stored generation, or null when the store has none (new or wiped). */
export async function readGeneration(db: Db): Promise<string | null> {
  const doc = await collection(db).findOne({ _id: GENERATION_ID });
  return typeof doc?.value === 'string' && doc.value.length > 0 ? doc.value : null;
}

/**
 * The stored generation, created when absent. Replicas starting together race on the insert;
 * a duplicate key means another one created it first: its value is read.
 */
export async function ensureGeneration(db: Db): Promise<string> {
  const existing = await readGeneration(db);
  if (existing) return existing;
  const value = newGenerationId();
  try {
    await collection(db).insertOne({ _id: GENERATION_ID, value, at: new Date() });
    return value;
  } catch (err) {
    if (!isDuplicateKey(err)) throw err;
    const winner = await readGeneration(db);
    if (!winner) throw err;
    return winner;
  }
}

/**
 * Writes a new generation, replacing the stored one (also one the restored dump brought back).
 * Called at the end of every restore (scripts/lib/backup.ts). Returns the new id.
 */
export async function renewGeneration(db: Db): Promise<string> {
  const value = newGenerationId();
  await collection(db).replaceOne(
    { _id: GENERATION_ID },
    { value, at: new Date() },
    { upsert: true },
  );
  return value;
}

export interface GenerationOptions {
  db: Db;
  logger: Logger;
  /** Re-read period (ms); 0 turns the timer off (tests call `refresh()`). */
  refreshMs?: number;
}

/**
 * This process's view of the generation: read (created if absent) before the service takes a
 * request, then re-read periodically. A failed re-read keeps the last value (logged once); a
 * store that lost the document (wiped, being restored) keeps it too until a restore writes a
 * new one.
 */
export async function startGeneration(options: GenerationOptions) {
  const { db, logger } = options;
  const refreshMs = options.refreshMs ?? GENERATION_REFRESH_MS;
  let current = await ensureGeneration(db);
  const warnings = distinctWarnings(logger);

  async function refresh(): Promise<string> {
    try {
      const stored = await readGeneration(db);
      warnings.reset();
      if (stored && stored !== current) {
        logger.info({ generation: stored }, 'sync: the store has a new generation (restored)');
        current = stored;
      }
    } catch (err) {
      warnings.warn(err, 'sync generation: re-read failed; keeping the last one');
    }
    return current;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<string> | undefined;
  if (refreshMs > 0) {
    timer = setInterval(() => {
      running ??= refresh().finally(() => {
        running = undefined;
      });
    }, refreshMs);
    timer.unref();
  }

  return {
    /** The generation this process serves (revisions and heads belong to it). */
    current: (): string => current,
    refresh,
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}

export type Generation = Awaited<ReturnType<typeof startGeneration>>;
