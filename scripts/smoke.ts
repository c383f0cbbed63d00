/**
 * `make smoke`: a short client walk-through against a running stack (`make dev`, compose or a
 * cluster): register, who-am-I, push, pull, upload, download, Qiniu token, refresh, a second
 * device and its revocation, password change, logout, account deletion.
 * Prints each step and its result; exits non-zero at the first failure.
 *
 *   GATEWAY_URL=http://localhost:8000 npx tsx scripts/smoke.ts
 */
import { createHash, randomBytes } from 'node:crypto';

const base = (process.env.GATEWAY_URL ?? 'http://localhost:8000').replace(/\/+$/, '');
const started = Date.now();
let stepNo = 0;

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  bytes: Buffer;
}

async function call(
  method: string,
  path: string,
  options: { token?: string; json?: unknown; raw?: Buffer; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | Buffer | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.raw) body = options.raw;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  const parsed = /json/.test(type) && bytes.length ? JSON.parse(bytes.toString()) : undefined;
  return { status: res.status, headers: res.headers, body: parsed, bytes };
}

class StepFailed extends Error {}

function expectStatus(answer: Answer, ...statuses: number[]): void {
  if (!statuses.includes(answer.status)) {
    const detail = answer.body ? JSON.stringify(answer.body).slice(0, 300) : '';
    throw new StepFailed(`expected ${statuses.join(' or ')}, got ${answer.status} ${detail}`);
  }
}

async function step<T>(name: string, run: () => Promise<[T, string]>): Promise<T> {
  stepNo++;
  const t0 = Date.now();
  try {
    const [value, summary] = await run();
    console.log(`✔ ${String(stepNo).padStart(2)}. ${name}: ${summary} (${Date.now() - t0} ms)`);
    return value;
  } catch (err) {
    console.log(`✘ ${String(stepNo).padStart(2)}. ${name}: ${(err as Error).message}`);
    console.log(`\nsmoke test FAILED against ${base}`);
    process.exit(1);
  }
}

console.log(`smoke test against ${base}\n`);

await step('gateway ready', async () => {
  const ready = await call('GET', '/ready');
  expectStatus(ready, 200);
  const checks = (ready.body as { checks?: Record<string, string> }).checks ?? {};
  return [
    undefined,
    Object.entries(checks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ];
});

const username = `smoke_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(12).toString('hex')}`;
interface Session {
  accessToken: string;
  refreshToken: string;
  user: { id: string; username: string };
}
let session = await step('register', async () => {
  const res = await call('POST', '/auth/register', {
    json: { username, password, deviceName: 'smoke test' },
  });
  expectStatus(res, 201);
  const s = res.body as Session;
  return [s, `user ${s.user.username} (${s.user.id}), request ${res.headers.get('x-request-id')}`];
});

await step('who am I', async () => {
  const res = await call('GET', '/auth/me', { token: session.accessToken });
  expectStatus(res, 200);
  const me = res.body as { id: string };
  if (me.id !== session.user.id) throw new StepFailed(`expected ${session.user.id}, got ${me.id}`);
  return [undefined, `id ${me.id}`];
});

const entryId = `entry-${randomBytes(4).toString('hex')}`;
const pushed = await step('push an entry', async () => {
  const res = await call('POST', '/sync/push', {
    token: session.accessToken,
    json: {
      deviceId: 'smoke',
      changes: [
        {
          id: entryId,
          baseRevision: 0,
          content: { title: 'Smoke test', body: 'Written by scripts/smoke.ts' },
          clientUpdatedAt: new Date().toISOString(),
        },
      ],
    },
    headers: { 'idempotency-key': randomBytes(8).toString('hex') },
  });
  expectStatus(res, 200);
  const reply = res.body as { accepted: { id: string; revision: number }[]; revision: number };
  if (reply.accepted[0]?.id !== entryId) throw new StepFailed('the entry was not accepted');
  return [reply.revision, `accepted at revision ${reply.revision}`];
});

await step('pull changes', async () => {
  const res = await call('GET', '/sync/changes?since=0', { token: session.accessToken });
  expectStatus(res, 200);
  const reply = res.body as { changes: { id: string; revision: number }[]; revision: number };
  const found = reply.changes.find((c) => c.id === entryId);
  if (!found || found.revision !== pushed) throw new StepFailed('the pushed entry is missing');
  return [undefined, `${reply.changes.length} change(s), cursor ${reply.revision}`];
});

const attachmentId = `att-${randomBytes(4).toString('hex')}`;
const content = randomBytes(256 * 1024);
const digest = createHash('sha256').update(content).digest('hex');
await step('upload an attachment', async () => {
  const res = await call('PUT', `/attachments/${attachmentId}`, {
    token: session.accessToken,
    raw: content,
    headers: { 'content-type': 'application/octet-stream', 'x-content-sha256': digest },
  });
  expectStatus(res, 201);
  const a = res.body as { size: number; sha256: string };
  if (a.size !== content.length || a.sha256 !== digest)
    throw new StepFailed('size or digest differ');
  return [undefined, `${a.size} bytes, sha256 ${a.sha256.slice(0, 12)}…`];
});

await step('download it', async () => {
  const res = await call('GET', `/attachments/${attachmentId}`, { token: session.accessToken });
  expectStatus(res, 200);
  const got = createHash('sha256').update(res.bytes).digest('hex');
  if (got !== digest) throw new StepFailed('downloaded bytes differ from the upload');
  const range = await call('GET', `/attachments/${attachmentId}`, {
    token: session.accessToken,
    headers: { range: 'bytes=0-99' },
  });
  expectStatus(range, 206);
  return [
    undefined,
    `${res.bytes.length} bytes, same digest; range → ${range.headers.get('content-range')}`,
  ];
});

await step('Qiniu upload token', async () => {
  const res = await call('GET', '/storage/qiniu/token?key=smoke.bin', {
    token: session.accessToken,
  });
  expectStatus(res, 200, 503);
  if (res.status === 503) {
    const code = (res.body as { code?: string }).code;
    if (code !== 'storage_not_configured') throw new StepFailed(`503 ${code}`);
    return [undefined, 'storage not configured (503 storage_not_configured, as documented)'];
  }
  const t = res.body as { key: string; expiresAt: string };
  return [undefined, `key ${t.key}, expires ${t.expiresAt}`];
});

session = await step('refresh the session', async () => {
  const res = await call('POST', '/auth/refresh', { json: { refreshToken: session.refreshToken } });
  expectStatus(res, 200);
  const s = res.body as Session;
  if (s.refreshToken === session.refreshToken) throw new StepFailed('refresh token not rotated');
  return [s, 'new token pair'];
});

const sessionIdOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sid;

await step('end another device’s session', async () => {
  const login = await call('POST', '/auth/login', {
    json: { username, password, deviceName: 'smoke second device' },
  });
  expectStatus(login, 200);
  const other = login.body as Session;
  const listed = await call('GET', '/auth/sessions', { token: session.accessToken });
  expectStatus(listed, 200);
  const count = (listed.body as { sessions: unknown[] }).sessions.length;
  const res = await call('DELETE', `/auth/sessions/${sessionIdOf(other.accessToken)}`, {
    token: session.accessToken,
  });
  expectStatus(res, 204);
  expectStatus(await call('GET', '/auth/me', { token: other.accessToken }), 401);
  expectStatus(await call('GET', '/auth/me', { token: session.accessToken }), 200);
  return [undefined, `${count} sessions listed; the revoked one is refused at once`];
});

const newPassword = `pw-${randomBytes(12).toString('hex')}`;
await step('change the password', async () => {
  const res = await call('POST', '/auth/password', {
    token: session.accessToken,
    json: { currentPassword: password, newPassword },
  });
  expectStatus(res, 204);
  expectStatus(await call('POST', '/auth/login', { json: { username, password } }), 401);
  expectStatus(await call('GET', '/auth/me', { token: session.accessToken }), 200);
  return [undefined, 'the old password is refused, this session stays'];
});

await step('log out', async () => {
  const res = await call('POST', '/auth/logout', { token: session.accessToken, json: {} });
  expectStatus(res, 204);
  const after = await call('GET', '/auth/me', { token: session.accessToken });
  expectStatus(after, 401);
  return [undefined, 'the access token is refused at once'];
});

await step('delete the account', async () => {
  const login = await call('POST', '/auth/login', { json: { username, password: newPassword } });
  expectStatus(login, 200);
  const s = login.body as Session;
  const res = await call('DELETE', '/auth/account', {
    token: s.accessToken,
    json: { password: newPassword },
  });
  expectStatus(res, 202);
  expectStatus(await call('GET', '/sync/changes', { token: s.accessToken }), 401);
  expectStatus(
    await call('POST', '/auth/login', { json: { username, password: newPassword } }),
    401,
  );
  const { deletedAt } = res.body as { deletedAt: string };
  return [undefined, `deleted at ${deletedAt}; sessions over, credentials refused`];
});

console.log(`\nsmoke test passed against ${base} in ${Date.now() - started} ms`);
