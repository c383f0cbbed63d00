import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_SECONDS, createRevocationSet } from '../../src/index.js';

const T = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
const sec = (ms: number) => Math.floor(ms / 1000);

describe('revocation set (pure rules)', () => {
  it('refuses every token of a revoked session, and no other session’s', () => {
    const set = createRevocationSet(3600);
    set.add({ kind: 'session', sessionId: 's1', userId: 'u1', at: T });
    expect(set.isRevoked({ sessionId: 's1', userId: 'u1', issuedAt: sec(T) - 10 })).toBe(true);
    // A token of the same session minted later (a refresh racing the logout) is refused too.
    expect(set.isRevoked({ sessionId: 's1', userId: 'u1', issuedAt: sec(T) + 5 })).toBe(true);
    expect(set.isRevoked({ sessionId: 's2', userId: 'u1', issuedAt: sec(T) - 10 })).toBe(false);
  });

  it('refuses tokens a user-wide revocation covers, but the kept session and later logins', () => {
    const set = createRevocationSet(3600);
    set.add({ kind: 'user', userId: 'u1', at: T, keep: 'mine' });
    expect(set.isRevoked({ sessionId: 'other', userId: 'u1', issuedAt: sec(T) - 1 })).toBe(true);
    expect(set.isRevoked({ sessionId: 'mine', userId: 'u1', issuedAt: sec(T) - 1 })).toBe(false);
    // Issued in the second of the revocation or after: a new login, valid.
    expect(set.isRevoked({ sessionId: 'new', userId: 'u1', issuedAt: sec(T) })).toBe(false);
    expect(set.isRevoked({ sessionId: 'other', userId: 'u2', issuedAt: sec(T) - 1 })).toBe(false);
    // A second revocation without a kept session covers the kept one too.
    set.add({ kind: 'user', userId: 'u1', at: T + 10_000, keep: null });
    expect(set.isRevoked({ sessionId: 'mine', userId: 'u1', issuedAt: sec(T) - 1 })).toBe(true);
  });

  it('forgets a revocation only once every token it covers has expired', () => {
    const ttl = 600;
    const set = createRevocationSet(ttl);
    set.add({ kind: 'session', sessionId: 's1', userId: 'u1', at: T });
    set.add({ kind: 'user', userId: 'u1', at: T, keep: null });
    const window = (ttl + 2 * CLOCK_SKEW_SECONDS) * 1000;
    set.prune(T + window);
    expect(set.size()).toEqual({ sessions: 1, users: 1 });
    set.prune(T + window + 1);
    expect(set.size()).toEqual({ sessions: 0, users: 0 });
  });

  it('keeps the earliest time of a session revoked twice, and no duplicate user records', () => {
    const set = createRevocationSet(60);
    set.add({ kind: 'session', sessionId: 's1', userId: 'u1', at: T + 5 });
    set.add({ kind: 'session', sessionId: 's1', userId: 'u1', at: T });
    set.add({ kind: 'user', userId: 'u1', at: T, keep: null });
    set.add({ kind: 'user', userId: 'u1', at: T, keep: null });
    set.prune(T + (60 + 2 * CLOCK_SKEW_SECONDS) * 1000 + 2);
    expect(set.size()).toEqual({ sessions: 0, users: 0 });
  });
});
