import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ensureIndexes, ProblemError } from '@journal/shared';
import { type Db, GridFSBucket, type GridFSBucketWriteStream, ObjectId } from 'mongodb';

/**
 * Attachment content in GridFS (`<bucket>.files` + `<bucket>.chunks`, chunks unique on
 * `(files_id, n)`). The driver's GridFSBucket works on FerretDB 1.24 (SQLite) as on MongoDB:
 * uploads and deletes go through it. Downloads read the same chunk documents with our own
 * cursor, because the driver's download stream cannot set a batch size and its first batch of
 * 101 chunks would hold ~25 MiB per download in memory; ours holds a few chunks.
 *
 * Nothing outside this module knows the layout.
 */

/** 255 KiB: GridFS's default, so a chunk document stays far below the 16 MiB BSON limit. */
export const CHUNK_SIZE = 255 * 1024;
/** Chunks fetched per round trip when reading (~1 MiB). */
const READ_BATCH_CHUNKS = 4;

export interface StoredContent {
  fileId: ObjectId;
  size: number;
  sha256: string;
}

export interface WriteOptions {
  /** The upload fails with 413 as soon as it crosses this many bytes. */
  maxBytes: number;
  /** Hex SHA-256 the client declared; checked at the end, before the file is committed. */
  expectedSha256?: string | undefined;
  /** Stored on the files document for operators (never used for lookups). */
  filename: string;
  /** The new file's id; a fresh one when absent. */
  fileId?: ObjectId | undefined;
  /** Awaited after each chunk is stored; a throw aborts the upload (and removes its chunks). */
  afterChunk?: (() => Promise<void>) | undefined;
}

interface ChunkDoc {
  files_id: ObjectId;
  n: number;
  data: { buffer: Uint8Array } | Uint8Array;
}

function writeChunk(stream: GridFSBucketWriteStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

function endStream(stream: GridFSBucketWriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.end(() => resolve());
  });
}

export function createContentStore(db: Db, options: { bucketName?: string } = {}) {
  const bucketName = options.bucketName ?? 'attachments_content';
  const bucket = new GridFSBucket(db, { bucketName, chunkSizeBytes: CHUNK_SIZE });
  const files = db.collection(`${bucketName}.files`);
  const chunks = db.collection<ChunkDoc>(`${bucketName}.chunks`);

  /**
   * Removes a file's chunks and files document; safe on a partly written file. True when there
   * was anything to remove.
   */
  async function remove(fileId: ObjectId): Promise<boolean> {
    const removedChunks = await chunks.deleteMany({ files_id: fileId });
    const removedFile = await files.deleteOne({ _id: fileId });
    return removedChunks.deletedCount + removedFile.deletedCount > 0;
  }

  return {
    bucketName,
    chunkSize: CHUNK_SIZE,

    async ensureIndexes(): Promise<void> {
      // GridFS's own indexes (its driver makes them too, on a first upload, by these names).
      await ensureIndexes(chunks, [{ key: { files_id: 1, n: 1 }, unique: true }]);
      await ensureIndexes(files, [{ key: { filename: 1, uploadDate: 1 } }]);
    },

    /**
     * Streams `source` into a new file under a fresh id while hashing and counting it. Each
     * write waits for its chunk insert (backpressure: at most one chunk buffered), so when
     * anything fails (limit, digest, client gone, database) no insert is in flight and the
     * clean-up removes every chunk written.
     */
    async write(source: AsyncIterable<Buffer>, opts: WriteOptions): Promise<StoredContent> {
      const fileId = opts.fileId ?? new ObjectId();
      const upload = bucket.openUploadStreamWithId(fileId, opts.filename);
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const received of source) {
          size += received.length;
          if (size > opts.maxBytes) {
            throw new ProblemError(
              'payload_too_large',
              `the attachment is larger than the limit of ${opts.maxBytes} bytes`,
            );
          }
          hash.update(received);
          // Slices of at most one chunk cross at most one chunk boundary, so the write
          // callback fires only once the single insert it caused has settled.
          for (let offset = 0; offset < received.length; offset += CHUNK_SIZE) {
            await writeChunk(upload, received.subarray(offset, offset + CHUNK_SIZE));
            await opts.afterChunk?.();
          }
        }
        const sha256 = hash.digest('hex');
        if (opts.expectedSha256 && opts.expectedSha256.toLowerCase() !== sha256) {
          throw new ProblemError(
            'validation_failed',
            `x-content-sha256 does not match the body: declared ${opts.expectedSha256.toLowerCase()}, received ${sha256}`,
            { errors: [{ path: 'headers.x-content-sha256', message: 'does not match the body' }] },
          );
        }
        await endStream(upload);
        return { fileId, size, sha256 };
      } catch (err) {
        upload.destroy();
        await remove(fileId);
        throw err;
      }
    },

    /**
     * A readable of bytes `start..end` (inclusive) of a file of `size` bytes, reading a few
     * chunks per round trip and only as fast as the consumer takes them.
     */
    read(fileId: ObjectId, range: { start: number; end: number; size: number }): Readable {
      async function* bytes(): AsyncGenerator<Buffer> {
        if (range.size === 0 || range.end < range.start) return;
        const first = Math.floor(range.start / CHUNK_SIZE);
        const last = Math.floor(range.end / CHUNK_SIZE);
        const cursor = chunks
          .find({ files_id: fileId, n: { $gte: first, $lte: last } })
          .sort({ n: 1 })
          .batchSize(READ_BATCH_CHUNKS);
        let expected = first;
        try {
          for await (const doc of cursor) {
            if (doc.n !== expected) throw new Error(`chunk ${expected} of ${fileId} is missing`);
            const raw = doc.data instanceof Uint8Array ? doc.data : doc.data.buffer;
            const data = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
            const chunkStart = doc.n * CHUNK_SIZE;
            const from = Math.max(range.start - chunkStart, 0);
            const to = Math.min(range.end - chunkStart + 1, data.length);
            expected += 1;
            yield data.subarray(from, to);
          }
        } finally {
          await cursor.close();
        }
        if (expected !== last + 1) throw new Error(`chunk ${expected} of ${fileId} is missing`);
      }
      return Readable.from(bytes(), { objectMode: false, highWaterMark: CHUNK_SIZE });
    },

    remove,

    /** `remove` for many files in two commands (one scan of the chunks on FerretDB). */
    async removeMany(fileIds: ObjectId[]): Promise<void> {
      if (fileIds.length === 0) return;
      await chunks.deleteMany({ files_id: { $in: fileIds } });
      await files.deleteMany({ _id: { $in: fileIds } });
    },

    /**
     * Ids of files whose name starts with `prefix` (uploads name their file `<owner>/<id>`):
     * account deletion finds content of the owner no metadata or marker points at any more.
     */
    async fileIdsNamed(prefix: string, limit: number): Promise<ObjectId[]> {
      const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const docs = await files
        .find({ filename: { $regex: `^${escaped}` } }, { projection: { _id: 1 } })
        .limit(limit)
        .toArray();
      return docs.map((d) => d._id as ObjectId);
    },

    /** How many chunks are stored (all files, or one); for tests and operators. */
    countChunks(fileId?: ObjectId): Promise<number> {
      return chunks.countDocuments(fileId ? { files_id: fileId } : {});
    },

    countFiles(): Promise<number> {
      return files.countDocuments({});
    },
  };
}

export type ContentStore = ReturnType<typeof createContentStore>;
