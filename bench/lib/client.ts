import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { importPKCS8, SignJWT } from 'jose';
import type { StackOptions } from '../../scripts/lib/stack.js';

export interface BenchUser {
  username: string;
  password: string;
  accessToken: string;
  userId: string;
}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

/**
 * Registers a user through the gateway, as a client would. Refused with 429 while this address
 * holds its share of auth's password-hashing slots (e.g. right after the logins scenario): waits
 * and tries again, for up to a minute, as a client would after Retry-After.
 */
export async function register(gateway: string, label: string): Promise<BenchUser> {
  const username = `${label}_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${gateway}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password, deviceName: 'bench' }),
    });
    if (res.status === 429 && Date.now() < deadline) {
      await res.arrayBuffer();
      const wait = Number(res.headers.get('retry-after') ?? 1);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5, Math.max(1, wait)) * 1000));
      continue;
    }
    const session = await json<{ accessToken: string; user: { id: string } }>(res);
    return { username, password, accessToken: session.accessToken, userId: session.user.id };
  }
}

/**
 * Many users at once for the long-poll scenario: tokens signed with the stack's own key and
 * sessions written per the Redis session contract (shared/src/sessions.ts), because 1,000
 * registrations would measure password hashing instead.
 */
export async function mintUsers(stack: StackOptions, count: number): Promise<BenchUser[]> {
  const key = await importPKCS8(stack.keys.privateKeyPem, 'EdDSA');
  const redis = new Redis(stack.redisUrl, { keyPrefix: 'journal:' });
  const users: BenchUser[] = [];
  const pipeline = redis.pipeline();
  for (let i = 0; i < count; i++) {
    const userId = `bench-${randomBytes(8).toString('hex')}`;
    const sid = `bench-${randomBytes(8).toString('hex')}`;
    const accessToken = await new SignJWT({ sid })
      .setProtectedHeader({ alg: 'EdDSA', kid: stack.keys.kid, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer('journal-auth')
      .setAudience('journal')
      .setIssuedAt()
      // No longer than JWT_ACCESS_TTL_SECONDS (3600): every service refuses longer-lived tokens.
      .setExpirationTime('1h')
      .sign(key);
    pipeline.set(`session:${sid}`, JSON.stringify({ userId, deviceName: 'bench' }), 'EX', 3600);
    users.push({ username: userId, password: '', accessToken, userId });
  }
  await pipeline.exec();
  redis.disconnect();
  return users;
}

export function auth(user: BenchUser): Record<string, string> {
  return { authorization: `Bearer ${user.accessToken}` };
}

let idCounter = 0;
export function entryId(): string {
  idCounter++;
  return `e${process.pid}_${idCounter}_${randomBytes(3).toString('hex')}`;
}

/**
 * A new entry's first version as the sync service stores it (services/sync/src/entries/
 * repository.ts), for the raw-driver baselines: user, revision, ~200 bytes of content.
 */
export function versionDoc(userId: string, revision: number) {
  return {
    userId,
    id: entryId(),
    revision,
    baseRevision: 0,
    deleted: false,
    content: JSON.stringify({ title: 'bench', body: 'x'.repeat(200) }),
    clientUpdatedAt: null,
    updatedAt: new Date(),
    deviceId: 'bench',
  };
}

/** A push body of `n` new entries with ~`bytes` of content each. */
export function pushBody(n: number, bytes = 200): string {
  const text = 'x'.repeat(bytes);
  return JSON.stringify({
    deviceId: 'bench',
    changes: Array.from({ length: n }, () => ({
      id: entryId(),
      baseRevision: 0,
      content: { title: 'bench', body: text },
      clientUpdatedAt: new Date().toISOString(),
    })),
  });
}

export async function push(base: string, user: BenchUser, n: number, bytes = 200) {
  const body = pushBody(n, bytes);
  // One retry on a socket the server closed while idle: the same new entries pushed again are
  // identical to what may have been stored, so the retry is accepted without a second apply.
  for (let attempt = 0; ; attempt++) {
    try {
      return await json<{ revision: number; accepted: unknown[]; conflicts: unknown[] }>(
        await fetch(`${base}/sync/push`, {
          method: 'POST',
          headers: { ...auth(user), 'content-type': 'application/json' },
          body,
        }),
      );
    } catch (err) {
      if (attempt >= 2 || !(err instanceof TypeError)) throw err;
    }
  }
}
