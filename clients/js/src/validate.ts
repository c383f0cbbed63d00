import { type Check, contract, fail } from './contract.js';
import type {
  Attachment,
  AttachmentList,
  Changes,
  DeviceSession,
  Entry,
  PushReply,
  QiniuUploadToken,
  Session,
  User,
} from './types.js';

/**
 * Checks of the server's replies, so a malformed answer becomes a `bad_reply` JournalError
 * naming the field before anything reaches the local store. Each shape is the contract's own
 * (`contract.ts`, built from the generated OpenAPI schemas); what a schema cannot say (an entry
 * that is not deleted has content, a page's order, a push reply answering exactly what was
 * pushed, a hex digest) is checked here, after it.
 */

const changesShape = contract('Changes');
const pushReplyShape = contract('PushReply');
const attachmentShape = contract('Attachment');

export const user: Check<User> = contract('User');
export const session: Check<Session> = contract('Session');
export const qiniuToken: Check<QiniuUploadToken> = contract('QiniuUploadToken');
export const deviceSessions: Check<DeviceSession[]> = (v, p) =>
  contract('SessionList')(v, p).sessions;

/** An entry that is not deleted has content. */
function entryRules(e: Entry, p: string): Entry {
  if (!e.deleted && e.content === null) {
    fail(`${p}.content`, 'an object (entry not deleted)', null);
  }
  return e;
}

export const changes: Check<Changes> = (v, p) => {
  const page = changesShape(v, p);
  const list = page.changes;
  for (let i = 0; i < list.length; i++) {
    const e = entryRules(list[i] as Entry, `${p}.changes[${i}]`);
    if (i > 0 && e.revision <= (list[i - 1] as Entry).revision) {
      fail(`${p}.changes[${i}].revision`, 'ascending', e.revision);
    }
    if (e.revision > page.revision) fail(`${p}.revision`, `at least ${e.revision}`, page.revision);
  }
  return page;
};

/** A push reply answers every id pushed, and nothing else; a conflict's entry is its id's. */
export const pushReply = (v: unknown, sent: Set<string>): PushReply => {
  const p = 'push reply';
  const reply = pushReplyShape(v, p);
  reply.accepted.forEach((a, i) => {
    if (!sent.has(a.id)) fail(`${p}.accepted[${i}].id`, 'an id that was pushed', a.id);
  });
  reply.conflicts.forEach((c, i) => {
    const q = `${p}.conflicts[${i}]`;
    if (!sent.has(c.id)) fail(`${q}.id`, 'an id that was pushed', c.id);
    if (c.current) {
      entryRules(c.current, `${q}.current`);
      if (c.current.id !== c.id) fail(`${q}.current.id`, c.id, c.current.id);
    }
  });
  const answered = new Set([...reply.accepted, ...reply.conflicts].map((x) => x.id));
  for (const id of sent) if (!answered.has(id)) fail(`${p}`, `an answer for ${id}`, undefined);
  return reply;
};

/** The content's SHA-256 is lower-case hex (the ETag the downloads check against). */
export const attachment: Check<Attachment> = (v, p) => {
  const a = attachmentShape(v, p);
  if (!/^[0-9a-f]{64}$/.test(a.sha256)) fail(`${p}.sha256`, 'lower-case hex SHA-256', a.sha256);
  return a;
};

export const attachmentList: Check<AttachmentList> = (v, p) => {
  const list = contract('AttachmentList')(v, p);
  list.attachments.forEach((a, i) => {
    attachment(a, `${p}.attachments[${i}]`);
  });
  return list;
};
