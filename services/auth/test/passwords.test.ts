import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, scryptParams, verifyPassword } from '../src/passwords/scrypt.js';
import {
  type AuthApp,
  authHarness,
  bearer,
  login,
  PASSWORD,
  register,
  username,
} from './helpers.js';

let h: Awaited<ReturnType<typeof authHarness>>;
beforeAll(async () => {
  h = await authHarness('passwords');
});
afterAll(() => h.close());

const hashOf = async (userId: string) =>
  (await h.db.collection('users').findOne({ _id: userId } as never))?.passwordHash as string;

describe('scrypt hashes', () => {
  it('carry their parameters, use a fresh salt each time and verify only the right password', async () => {
    const params = scryptParams(10);
    const a = await hashPassword(PASSWORD, params);
    const b = await hashPassword(PASSWORD, params);
    expect(a).toMatch(/^scrypt\$ln=10,r=8,p=1\$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword(PASSWORD, a, params)).toEqual({ ok: true, needsRehash: false });
    expect((await verifyPassword(`${PASSWORD}!`, a, params)).ok).toBe(false);
    expect((await verifyPassword(PASSWORD, a, scryptParams(12))).needsRehash).toBe(true);
    // A stronger hash than the current setting is never downgraded.
    expect((await verifyPassword(PASSWORD, a, scryptParams(9))).needsRehash).toBe(false);
    for (const broken of ['', 'plain', 'scrypt$ln=10,r=8,p=1$$', a.replace('ln=10', 'ln=99')]) {
      expect((await verifyPassword(PASSWORD, broken, params)).ok).toBe(false);
    }
  });

  it('treat canonically equivalent Unicode passwords alike (NFKC)', async () => {
    const params = scryptParams(10);
    const hash = await hashPassword('caf\u00e9-password', params);
    expect((await verifyPassword('cafe\u0301-password', hash, params)).ok).toBe(true);
  });

  it('do not block the event loop while hashing', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all([1, 2, 3].map(() => hashPassword(PASSWORD, scryptParams(14))));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
  });
});

describe('login rehashing', () => {
  it('rehashes a hash made at a weaker cost on the next login', async () => {
    const weak = (await h.build({ PASSWORD_SCRYPT_LOG_N: '10' })).app;
    const name = username('rehash');
    const res = await register(weak, { username: name, password: PASSWORD });
    const userId = res.json().user.id;
    const before = await hashOf(userId);
    expect(before).toMatch(/^scrypt\$ln=10,/);

    const stronger = (await h.build({ PASSWORD_SCRYPT_LOG_N: '12' })).app;
    expect((await login(stronger, { username: name, password: 'wrong password' })).statusCode).toBe(
      401,
    );
    expect(await hashOf(userId)).toBe(before);
    expect((await login(stronger, { username: name, password: PASSWORD })).statusCode).toBe(200);
    const after = await hashOf(userId);
    expect(after).toMatch(/^scrypt\$ln=12,r=8,p=1\$/);
    expect((await login(stronger, { username: name, password: PASSWORD })).statusCode).toBe(200);
    expect((await login(weak, { username: name, password: PASSWORD })).statusCode).toBe(200);
    expect(await hashOf(userId)).toBe(after);
  });
});

describe('the default cost (N=2^17, r=8, p=1)', () => {
  let app: AuthApp;
  beforeAll(async () => {
    app = (await h.build({ PASSWORD_SCRYPT_LOG_N: '17' })).app;
  });

  it('hashes with the OWASP parameters, and an unknown user costs as much as a wrong password', async () => {
    const name = username('strong');
    const res = await register(app, { username: name, password: PASSWORD });
    expect(res.statusCode).toBe(201);
    expect(await hashOf(res.json().user.id)).toMatch(/^scrypt\$ln=17,r=8,p=1\$/);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/auth/me',
          headers: bearer(res.json().accessToken),
        })
      ).statusCode,
    ).toBe(200);

    const time = async (body: Record<string, unknown>) => {
      const started = performance.now();
      const r = await login(app, body);
      expect(r.statusCode).toBe(401);
      return performance.now() - started;
    };
    // Alternating samples, compared by their medians: one CPU burst from another test file
    // must not decide it.
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      wrong.push(await time({ username: name, password: 'not the password' }));
      unknown.push(await time({ username: username('nobody'), password: 'not the password' }));
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[1] as number;
    // Both spend one scrypt at N=2^17 (tens of milliseconds at least); neither is a quick exit.
    expect(median(wrong)).toBeGreaterThan(20);
    expect(median(unknown)).toBeGreaterThan(20);
    // Loose bound (other test files run in parallel); a quick exit would be ~100x faster.
    expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.3);
    expect((await login(app, { username: name, password: PASSWORD })).statusCode).toBe(200);
  });
});
