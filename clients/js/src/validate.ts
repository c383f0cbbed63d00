import { badReply } from './errors.js';
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
import { isObject } from './util.js';

/**
 * Checks of the server's replies against the contract, so a malformed answer becomes a
 * `bad_reply` JournalError naming the field, before anything reaches the local store.
 */
type Check<T> = (v: unknown, path: string) => T;

function fail(path: string, want: string, v: unknown): never {
  const got = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  throw badReply(`${path} should be ${want}, got ${got}`);
}

const str: Check<string> = (v, p) => (typeof v === 'string' ? v : fail(p, 'a string', v));
const int: Check<number> = (v, p) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(p, 'an integer ≥ 0', v);
const bool: Check<boolean> = (v, p) => (typeof v === 'boolean' ? v : fail(p, 'a boolean', v));
const nullable =
  <T>(c: Check<T>): Check<T | null> =>
  (v, p) =>
    v === null ? null : c(v, p);
const obj = (v: unknown, p: string): Record<string, unknown> =>
  isObject(v) ? v : fail(p, 'an object', v);
const arr = <T>(c: Check<T>): Check<T[]> => {
  return (v, p) =>
    Array.isArray(v) ? v.map((x, i) => c(x, `${p}[${i}]`)) : fail(p, 'an array', v);
};

export const user: Check<User> = (v, p) => {
  const o = obj(v, p);
  return {
    id: str(o.id, `${p}.id`),
    username: str(o.username, `${p}.username`),
    createdAt: str(o.createdAt, `${p}.createdAt`),
  };
};

export const session: Check<Session> = (v, p) => {
  const o = obj(v, p);
  return {
    user: user(o.user, `${p}.user`),
    accessToken: str(o.accessToken, `${p}.accessToken`),
    refreshToken: str(o.refreshToken, `${p}.refreshToken`),
    tokenType: 'Bearer',
    expiresIn: int(o.expiresIn, `${p}.expiresIn`),
  };
};

export const deviceSessions: Check<DeviceSession[]> = (v, p) =>
  arr((x, q) => {
    const o = obj(x, q);
    return {
      id: str(o.id, `${q}.id`),
      deviceName: nullable(str)(o.deviceName ?? null, `${q}.deviceName`),
      createdAt: str(o.createdAt, `${q}.createdAt`),
      lastUsedAt: str(o.lastUsedAt, `${q}.lastUsedAt`),
      current: bool(o.current, `${q}.current`),
    };
  })(obj(v, p).sessions, `${p}.sessions`);

export const entry: Check<Entry> = (v, p) => {
  const o = obj(v, p);
  const deleted = bool(o.deleted, `${p}.deleted`);
  const content = o.content === null ? null : obj(o.content, `${p}.content`);
  if (!deleted && content === null) fail(`${p}.content`, 'an object (entry not deleted)', null);
  return {
    id: str(o.id, `${p}.id`),
    revision: int(o.revision, `${p}.revision`),
    deleted,
    content,
    clientUpdatedAt: nullable(str)(o.clientUpdatedAt ?? null, `${p}.clientUpdatedAt`),
    updatedAt: str(o.updatedAt, `${p}.updatedAt`),
    deviceId: nullable(str)(o.deviceId ?? null, `${p}.deviceId`),
  };
};

export const changes: Check<Changes> = (v, p) => {
  const o = obj(v, p);
  const list = arr(entry)(o.changes, `${p}.changes`);
  const revision = int(o.revision, `${p}.revision`);
  for (let i = 0; i < list.length; i++) {
    const e = list[i] as Entry;
    if (i > 0 && e.revision <= (list[i - 1] as Entry).revision) {
      fail(`${p}.changes[${i}].revision`, 'ascending', e.revision);
    }
    if (e.revision > revision) fail(`${p}.revision`, `at least ${e.revision}`, revision);
  }
  return { changes: list, revision, hasMore: bool(o.hasMore, `${p}.hasMore`) };
};

export const pushReply = (v: unknown, sent: Set<string>): PushReply => {
  const p = 'push reply';
  const o = obj(v, p);
  const accepted = arr((x, q) => {
    const a = obj(x, q);
    const id = str(a.id, `${q}.id`);
    if (!sent.has(id)) fail(`${q}.id`, 'an id that was pushed', id);
    return { id, revision: int(a.revision, `${q}.revision`) };
  })(o.accepted, `${p}.accepted`);
  const conflicts = arr((x, q) => {
    const c = obj(x, q);
    const id = str(c.id, `${q}.id`);
    if (!sent.has(id)) fail(`${q}.id`, 'an id that was pushed', id);
    const current =
      c.current === null || c.current === undefined ? null : entry(c.current, `${q}.current`);
    if (current && current.id !== id) fail(`${q}.current.id`, id, current.id);
    return { id, reason: 'revision_mismatch' as const, current };
  })(o.conflicts, `${p}.conflicts`);
  const answered = new Set([...accepted, ...conflicts].map((x) => x.id));
  for (const id of sent) if (!answered.has(id)) fail(`${p}`, `an answer for ${id}`, undefined);
  return { accepted, conflicts, revision: int(o.revision, `${p}.revision`) };
};

export const attachment: Check<Attachment> = (v, p) => {
  const o = obj(v, p);
  const sha256 = str(o.sha256, `${p}.sha256`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) fail(`${p}.sha256`, 'lower-case hex SHA-256', sha256);
  return {
    id: str(o.id, `${p}.id`),
    size: int(o.size, `${p}.size`),
    contentType: str(o.contentType, `${p}.contentType`),
    sha256,
    createdAt: str(o.createdAt, `${p}.createdAt`),
  };
};

export const attachmentList: Check<AttachmentList> = (v, p) => {
  const o = obj(v, p);
  return {
    attachments: arr(attachment)(o.attachments, `${p}.attachments`),
    nextCursor: nullable(str)(o.nextCursor ?? null, `${p}.nextCursor`),
  };
};

export const qiniuToken: Check<QiniuUploadToken> = (v, p) => {
  const o = obj(v, p);
  return {
    token: str(o.token, `${p}.token`),
    key: str(o.key, `${p}.key`),
    bucket: str(o.bucket, `${p}.bucket`),
    uploadUrl: str(o.uploadUrl, `${p}.uploadUrl`),
    expiresAt: str(o.expiresAt, `${p}.expiresAt`),
  };
};
