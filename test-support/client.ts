import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** A tiny HTTP client for black-box tests through the gateway. */
export function client(base: string) {
  async function call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: {
      token?: string;
      json?: unknown;
      body?: string | Uint8Array;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(options.json);
    }
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if (/json/.test(res.headers.get('content-type') ?? '') && text) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }
  return {
    call,
    get: <T = Record<string, unknown>>(
      path: string,
      token?: string,
      headers?: Record<string, string>,
    ) => call<T>('GET', path, { ...(token ? { token } : {}), ...(headers ? { headers } : {}) }),
    post: <T = Record<string, unknown>>(
      path: string,
      json: unknown,
      token?: string,
      headers?: Record<string, string>,
    ) =>
      call<T>('POST', path, { json, ...(token ? { token } : {}), ...(headers ? { headers } : {}) }),
  };
}

export type Client = ReturnType<typeof client>;

export interface Account {
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
  userId: string;
}

export async function registerUser(
  c: Client,
  label = 'user',
  deviceName = 'test device',
): Promise<Account> {
  const username = `${label}_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(10).toString('hex')}`;
  const res = await c.post<{ accessToken: string; refreshToken: string; user: { id: string } }>(
    '/auth/register',
    { username, password, deviceName },
  );
  expect(res.status, res.text).toBe(201);
  return {
    username,
    password,
    accessToken: res.body.accessToken,
    refreshToken: res.body.refreshToken,
    userId: res.body.user.id,
  };
}

/** Asserts an RFC 9457 problem document with the docs/api.md code. */
export function expectProblem(res: Reply, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = res.body as Record<string, unknown>;
  expect(body).toMatchObject({ status, code });
  expect(typeof body.type).toBe('string');
  expect(typeof body.title).toBe('string');
  expect(typeof body.detail).toBe('string');
  expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack trace
}

/** No log line contains any of `secrets` (passwords, tokens, keys used by the test). */
export function expectNoSecretsIn(lines: string[], secrets: string[]): void {
  const leaks: string[] = [];
  for (const secret of secrets.filter((s) => s && s.length >= 8)) {
    const line = lines.find((l) => l.includes(secret));
    if (line) leaks.push(`${secret.slice(0, 6)}… in: ${line.slice(0, 200)}`);
  }
  expect(leaks).toEqual([]);
}
