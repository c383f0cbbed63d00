import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { schemasText } from '../../scripts/generate.js';
import { JournalError } from '../../src/errors.js';
import * as v from '../../src/validate.js';

const dir = new URL('../../', import.meta.url);
const at = '2026-12-05T21:00:00.000Z';

const user = { id: 'u-1', username: 'ada', createdAt: at };
const session = {
  user,
  accessToken: 'a.b.c',
  refreshToken: 'r',
  tokenType: 'Bearer',
  expiresIn: 3600,
  deviceToken: 'd.e.f',
};
const entry = (id: string, revision: number, extra: Record<string, unknown> = {}) => ({
  id,
  revision,
  deleted: false,
  content: { text: 'hi', nested: { $gt: '' } },
  clientUpdatedAt: null,
  updatedAt: at,
  deviceId: 'dev',
  ...extra,
});
const sha = 'a'.repeat(64);
const attachment = {
  id: 'photo_1',
  size: 10,
  contentType: 'image/png',
  sha256: sha,
  createdAt: at,
};

/** The `bad_reply` message of `run`, or a failure when it passes. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(JournalError);
    expect(err).toMatchObject({ code: 'bad_reply' });
    return (err as Error).message;
  }
  throw new Error('accepted a reply that breaks the contract');
}

describe('reply checks derived from the generated contract', () => {
  it('src/generated/schemas.ts is the component schemas of the committed openapi.json', async () => {
    const doc = JSON.parse(await readFile(new URL('openapi.json', dir), 'utf8')) as unknown;
    const committed = await readFile(new URL('src/generated/schemas.ts', dir), 'utf8');
    // Regenerate after an API change: `npm run generate -w clients/js`.
    expect(committed).toBe(schemasText(doc));
  });

  it('accepts replies as the contract describes them, and returns them unchanged', () => {
    expect(v.user(user, 'me')).toEqual(user);
    expect(v.session(session, 'session')).toEqual(session);
    const sessions = [
      { id: 's1', deviceName: null, createdAt: at, lastUsedAt: at, current: true },
      { id: 's2', deviceName: 'Phone', createdAt: at, lastUsedAt: at, current: false },
    ];
    expect(v.deviceSessions({ sessions }, 'sessions')).toEqual(sessions);
    const page = {
      changes: [entry('a', 1), entry('b', 3, { deleted: true, content: null })],
      revision: 3,
      hasMore: false,
    };
    expect(v.changes(page, 'changes')).toEqual(page);
    const reply = {
      accepted: [{ id: 'a', revision: 4 }],
      conflicts: [{ id: 'b', reason: 'revision_mismatch', current: entry('b', 2) }],
      revision: 4,
    };
    expect(v.pushReply(reply, new Set(['a', 'b']))).toEqual(reply);
    expect(v.attachment(attachment, 'attachment')).toEqual(attachment);
    const list = { attachments: [attachment], nextCursor: null };
    expect(v.attachmentList(list, 'list')).toEqual(list);
    const token = {
      token: 't',
      key: 'users/u/k',
      bucket: 'b',
      uploadUrl: 'https://q',
      expiresAt: at,
    };
    expect(v.qiniuToken(token, 'qiniu')).toEqual(token);
  });

  it('drops properties the contract does not know and reads a missing nullable one as null', () => {
    const { deviceId: _, ...withoutDevice } = entry('a', 1);
    const page = v.changes(
      { changes: [{ ...withoutDevice, extra: 1 }], revision: 1, hasMore: false, more: true },
      'changes',
    );
    expect(page).toEqual({
      changes: [{ ...entry('a', 1), deviceId: null }],
      revision: 1,
      hasMore: false,
    });
    expect(v.attachmentList({ attachments: [] }, 'list')).toEqual({
      attachments: [],
      nextCursor: null,
    });
  });

  it('names the field that breaks the contract', () => {
    const page = (changes: unknown[], revision = 9) => ({ changes, revision, hasMore: false });
    expect(refusal(() => v.changes(page([entry('a', 'seven' as never)]), 'changes'))).toMatch(
      /changes\.changes\[0\]\.revision should be an integer ≥ 0, got string/,
    );
    expect(refusal(() => v.changes(page([entry('a', -1)]), 'changes'))).toMatch(
      /changes\.changes\[0\]\.revision should be an integer/,
    );
    expect(refusal(() => v.changes(page([entry('a', 1.5)]), 'changes'))).toMatch(/revision/);
    expect(
      refusal(() => v.changes(page([entry('a', 1, { updatedAt: 'yesterday' })]), 'c')),
    ).toMatch(/c\.changes\[0\]\.updatedAt should match/);
    expect(refusal(() => v.changes(page([entry('a', 1, { content: [1] })]), 'c'))).toMatch(
      /c\.changes\[0\]\.content should be an object or null, got array/,
    );
    expect(refusal(() => v.changes({ changes: 'none', revision: 1, hasMore: false }, 'c'))).toMatch(
      /c\.changes should be an array, got string/,
    );
    expect(refusal(() => v.changes('<html>proxy', 'c'))).toMatch(
      /c should be an object, got string/,
    );
    expect(refusal(() => v.changes(null, 'c'))).toMatch(/c should be an object, got null/);
    expect(refusal(() => v.user({ id: 'u', createdAt: at }, 'me'))).toMatch(
      /me\.username should be a string, got undefined/,
    );
    expect(refusal(() => v.user({ ...user, id: '../etc' }, 'me'))).toMatch(/me\.id should match/);
    expect(refusal(() => v.session({ ...session, tokenType: 'MAC' }, 's'))).toMatch(
      /s\.tokenType should be "Bearer"/,
    );
    expect(refusal(() => v.session({ ...session, user: { $gt: '' } }, 's'))).toMatch(/s\.user\.id/);
    expect(refusal(() => v.deviceSessions({ sessions: [{ id: 's1' }] }, 'x'))).toMatch(
      /x\.sessions\[0\]\.createdAt/,
    );
    expect(refusal(() => v.attachment({ ...attachment, size: '10' }, 'a'))).toMatch(/a\.size/);
  });

  it('checks what the schemas cannot say', () => {
    const page = (changes: unknown[], revision: number) => ({ changes, revision, hasMore: false });
    expect(refusal(() => v.changes(page([entry('a', 1, { content: null })], 1), 'c'))).toMatch(
      /c\.changes\[0\]\.content should be an object \(entry not deleted\)/,
    );
    expect(refusal(() => v.changes(page([entry('a', 2), entry('b', 2)], 2), 'c'))).toMatch(
      /c\.changes\[1\]\.revision should be ascending/,
    );
    expect(refusal(() => v.changes(page([entry('a', 5)], 4), 'c'))).toMatch(
      /c\.revision should be at least 5/,
    );
    const sent = new Set(['a', 'b']);
    const reply = (accepted: unknown[], conflicts: unknown[] = []) => ({
      accepted,
      conflicts,
      revision: 2,
    });
    expect(
      refusal(() =>
        v.pushReply(
          reply([
            { id: 'a', revision: 1 },
            { id: 'zz', revision: 2 },
          ]),
          sent,
        ),
      ),
    ).toMatch(/push reply\.accepted\[1\]\.id should be an id that was pushed/);
    expect(refusal(() => v.pushReply(reply([{ id: 'a', revision: 1 }]), sent))).toMatch(
      /push reply should be an answer for b/,
    );
    expect(
      refusal(() =>
        v.pushReply(
          reply(
            [{ id: 'a', revision: 1 }],
            [{ id: 'b', reason: 'revision_mismatch', current: entry('a', 1) }],
          ),
          sent,
        ),
      ),
    ).toMatch(/push reply\.conflicts\[0\]\.current\.id should be b/);
    expect(
      refusal(() =>
        v.pushReply(
          reply([{ id: 'a', revision: 1 }], [{ id: 'b', reason: 'other', current: null }]),
          sent,
        ),
      ),
    ).toMatch(/push reply\.conflicts\[0\]\.reason should be "revision_mismatch"/);
    expect(refusal(() => v.attachment({ ...attachment, sha256: 'A'.repeat(64) }, 'a'))).toMatch(
      /a\.sha256 should be lower-case hex SHA-256/,
    );
    expect(
      refusal(() =>
        v.attachmentList({ attachments: [{ ...attachment, sha256: 'x' }], nextCursor: null }, 'l'),
      ),
    ).toMatch(/l\.attachments\[0\]\.sha256/);
  });
});
