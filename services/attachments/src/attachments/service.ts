import type { Readable } from 'node:stream';
import type { Attachment, Logger } from '@journal/shared';
import { ProblemError } from '@journal/shared';
import { ObjectId } from 'mongodb';
import { type AttachmentsEncryption, startingWithMagic } from '../encryption/service.js';
import type { AttachmentsMetrics } from '../metrics.js';
import type { ContentStore } from '../storage/content-store.js';
import { keepAlive, type PendingRepository } from './pending.js';
import type { AttachmentsQuota } from './quota.js';
import type { AttachmentDoc, AttachmentsRepository } from './repository.js';

export function toAttachment(doc: AttachmentDoc): Attachment {
  return {
    id: doc.id,
    size: doc.size,
    contentType: doc.contentType,
    sha256: doc.sha256,
    createdAt: doc.createdAt.toISOString(),
  };
}

export interface PutInput {
  owner: string;
  id: string;
  contentType: string;
  body: AsyncIterable<Buffer>;
  expectedSha256?: string | undefined;
  /** The body's Content-Length, when declared: reserved against the quota before streaming. */
  declaredBytes?: number | undefined;
}

export interface AttachmentsServiceDeps {
  repository: AttachmentsRepository;
  pending: PendingRepository;
  store: ContentStore;
  metrics: AttachmentsMetrics;
  logger: Logger;
  maxBytes: number;
  /** The attachments quotas: an upload that would go over them is refused, nothing kept. */
  quota?: AttachmentsQuota;
  /** True while the owner's account is being deleted (see docs/account-deletion.md). */
  isDeleted?: (owner: string) => Promise<boolean>;
  /** End-to-end encryption: an encrypted account uploads encrypted files only. */
  encryption?: Pick<AttachmentsEncryption, 'checkUpload'>;
}

const accountDeleted = () => new ProblemError('unauthorized', 'the account has been deleted');

/** The attachment use cases; HTTP stays in routes/. */
export function createAttachmentsService(deps: AttachmentsServiceDeps) {
  const { repository, pending, store, metrics, logger } = deps;

  /**
   * Removes content that lost (or never won) its metadata slot; logged, never thrown. False
   * when it could not: its pending marker then stays for the sweeper.
   */
  async function discard(content: { fileId: AttachmentDoc['fileId'] }): Promise<boolean> {
    try {
      await store.remove(content.fileId);
      return true;
    } catch (err) {
      logger.error({ err, fileId: String(content.fileId) }, 'could not remove unused content');
      return false;
    }
  }

  return {
    /**
     * Streams the body into a fresh file, then claims the (owner, id) slot with a unique
     * insert. Whoever loses the slot removes its own content, so concurrent PUTs of one id
     * leave exactly one file: 201 for the winner, 200 (same bytes) or 409 for the others.
     * The file is marked pending throughout (see pending.ts), for the sweeper should this
     * process die before the content is referenced or removed.
     */
    async put(input: PutInput): Promise<{ created: boolean; attachment: Attachment }> {
      if (await deps.isDeleted?.(input.owner)) throw accountDeleted();
      // Before any reservation or byte: an encrypted account's type, then its body's magic.
      const sealed = (await deps.encryption?.checkUpload(input.owner, input.contentType)) ?? false;
      const source = sealed ? startingWithMagic(input.body) : input.body;
      // Quotas: one attachment and its declared bytes reserved before anything streams (403
      // at once when they do not fit); undeclared bytes are reserved as they arrive.
      const declared = input.declaredBytes;
      const hold = await deps.quota?.reserveUpload(input.owner, declared).catch(async (err) => {
        // The same upload again (a retry whose reply was lost) adds nothing: it answers 200 (or
        // 409), so an existing id is not refused for a quota; its bytes are read and dropped.
        const refused = err instanceof ProblemError && err.code === 'quota_exceeded';
        if (refused && (await repository.find(input.owner, input.id))) return undefined;
        throw err;
      });
      const kept = { count: 0, bytes: 0 };
      const fileId = new ObjectId();
      const outcome = { settled: true };
      try {
        await pending.add(fileId, input.owner, input.id);
        const body = hold && deps.quota ? deps.quota.metered(source, hold, declared ?? 0) : source;
        const result = await claim({ ...input, body }, fileId, outcome);
        if (result.created) Object.assign(kept, { count: 1, bytes: result.attachment.size });
        // Created without a reservation (the id was freed meanwhile): counted afterwards.
        if (result.created && !hold) await deps.quota?.adjust(input.owner, kept);
        return result;
      } catch (err) {
        // A refusal (413, digest, conflict) comes after the content was removed; anything else
        // (the store, a client gone) may leave chunks: the marker stays for the sweeper.
        if (!(err instanceof ProblemError)) outcome.settled = false;
        throw err;
      } finally {
        if (outcome.settled) {
          await pending.remove(fileId).catch((err: unknown) => {
            logger.warn({ err, fileId: String(fileId) }, 'could not clear a pending marker');
          });
        }
        await hold?.settle(kept);
      }
    },

    find(owner: string, id: string): Promise<AttachmentDoc | null> {
      return repository.find(owner, id);
    },

    /** The bytes `start`..`end` (inclusive) of an attachment `find` returned, streamed. */
    read(doc: AttachmentDoc, range: { start: number; end: number }): Readable {
      metrics.bytesServed.inc(range.end - range.start + 1);
      return store.read(doc.fileId, { ...range, size: doc.size });
    },

    /**
     * Metadata first (the attachment is gone at once), then its content; marked pending in
     * between. The metadata goes only if it still points at the file read: when another
     * request deleted (and perhaps re-uploaded) it meanwhile, this delete is ordered before
     * the re-upload and answers 404. The marker then stays for the sweeper, which settles the
     * file either way.
     */
    async remove(owner: string, id: string): Promise<boolean> {
      const current = await repository.find(owner, id);
      if (!current) return false;
      await pending.add(current.fileId, owner, id);
      if (!(await repository.remove(owner, id, current.fileId))) return false;
      await deps.quota?.adjust(owner, { count: -1, bytes: -current.size });
      await store.remove(current.fileId);
      await pending.remove(current.fileId);
      metrics.deletes.inc();
      return true;
    },

    async list(owner: string, limit: number, after?: string) {
      // One extra row tells whether another page follows, without a second query.
      const rows = await repository.list(owner, limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return { attachments: page.map(toAttachment), lastId: rows.length > limit ? last?.id : null };
    },
  };

  async function claim(
    input: PutInput,
    fileId: ObjectId,
    outcome: { settled: boolean },
  ): Promise<{ created: boolean; attachment: Attachment }> {
    let content: Awaited<ReturnType<ContentStore['write']>>;
    try {
      content = await store.write(input.body, {
        maxBytes: deps.maxBytes,
        expectedSha256: input.expectedSha256,
        filename: `${input.owner}/${input.id}`,
        fileId,
        afterChunk: keepAlive(pending, fileId),
      });
    } catch (err) {
      metrics.uploads.inc({
        result: err instanceof ProblemError ? err.code : 'failed',
      });
      throw err;
    }

    // A slot held by an attachment deleted in between is retried, a few times at most.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const doc: AttachmentDoc = {
        owner: input.owner,
        id: input.id,
        fileId: content.fileId,
        size: content.size,
        contentType: input.contentType,
        sha256: content.sha256,
        createdAt: new Date(),
      };
      if (await repository.insert(doc)) {
        // Written, then checked: an account deletion recorded before this check is seen here,
        // one recorded after it finds this attachment in its sweep. Nothing is left either way.
        if (await deps.isDeleted?.(input.owner)) {
          await repository.remove(input.owner, input.id, content.fileId);
          await store.remove(content.fileId);
          throw accountDeleted();
        }
        metrics.uploads.inc({ result: 'created' });
        metrics.bytesStored.inc(content.size);
        return { created: true, attachment: toAttachment(doc) };
      }
      const existing = await repository.find(input.owner, input.id);
      if (!existing) continue;
      if (!(await discard(content))) outcome.settled = false;
      if (existing.sha256 === content.sha256 && existing.size === content.size) {
        metrics.uploads.inc({ result: 'existing' });
        return { created: false, attachment: toAttachment(existing) };
      }
      metrics.uploads.inc({ result: 'conflict' });
      throw new ProblemError(
        'conflict',
        `attachment ${input.id} exists already with different content; delete it first or use another id`,
      );
    }
    if (!(await discard(content))) outcome.settled = false;
    throw new ProblemError('conflict', `attachment ${input.id} is being changed concurrently`);
  }
}

export type AttachmentsService = ReturnType<typeof createAttachmentsService>;
