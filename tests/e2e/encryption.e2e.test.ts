import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Account,
  type Client,
  client,
  expectNoSecretsIn,
  expectProblem,
  registerUser,
} from '../../test-support/client.js';
import {
  bundleWrite,
  ENCRYPTED_TYPE,
  encryptedFile,
  envelope,
} from '../../test-support/encryption.js';
import { startTestStack, type TestStack } from '../../test-support/stack.js';

/**
 * End-to-end encryption's four calls through the gateway, with every service a real process
 * (docs/api.md, "End-to-end encryption"): routed to their services, in the served OpenAPI
 * document, refused without a token; and the refusals of plaintext an encrypted account meets.
 */

let stack: TestStack;
let api: Client;
let alice: Account;
let bob: Account;

const CALLS = [
  ['GET', '/auth/encryption', 'getEncryption'],
  ['PUT', '/auth/encryption', 'putEncryption'],
  ['POST', '/sync/encryption/finish', 'finishSyncEncryption'],
  ['POST', '/attachments/encryption/finish', 'finishAttachmentsEncryption'],
] as const;

beforeAll(async () => {
  stack = await startTestStack('e2e-encryption');
  api = client(stack.gateway);
  alice = await registerUser(api, 'alice');
  bob = await registerUser(api, 'bob');
});

afterAll(async () => {
  expectNoSecretsIn(stack.logs(), [alice.password, alice.accessToken, bob.accessToken]);
  await stack.stop();
});

const putBundle = (who: Account, payload: unknown) =>
  api.call('PUT', '/auth/encryption', { token: who.accessToken, json: payload });
const push = (who: Account, changes: unknown[]) =>
  api.post('/sync/push', { changes }, who.accessToken);
const upload = (who: Account, id: string, type: string, body: Uint8Array) =>
  api.call('PUT', `/attachments/${id}`, {
    token: who.accessToken,
    body,
    headers: { 'content-type': type },
  });

describe('end-to-end encryption through the gateway (docs/api.md)', () => {
  it('answers 401 to each call without a token, or with a forged one', async () => {
    for (const [method, path] of CALLS) {
      const body = method === 'GET' ? {} : { json: {} };
      expectProblem(await api.call(method, path, body), 401, 'unauthorized');
      expectProblem(
        await api.call(method, path, { token: `${alice.accessToken.slice(0, -6)}AAAAAA` }),
        401,
        'unauthorized',
      );
    }
  });

  it('documents the four calls in the served OpenAPI document, bearer-authenticated', async () => {
    const doc = (await api.get('/openapi.json')).body as {
      paths: Record<string, Record<string, { operationId: string; security: unknown[] }>>;
      components: { schemas: Record<string, unknown> };
    };
    for (const [method, path, operationId] of CALLS) {
      const op = doc.paths[path]?.[method.toLowerCase()];
      expect(op?.operationId, `${method} ${path}`).toBe(operationId);
      expect(op?.security).toEqual([{ bearerAuth: [] }]);
    }
    for (const name of ['Envelope', 'EncryptionBundle', 'PutEncryptionRequest', 'EncryptionStatus'])
      expect(doc.components.schemas, name).toHaveProperty(name);
  });

  it('routes the calls: off, turned on, plaintext refused, finished', async () => {
    expect((await api.get('/auth/encryption', alice.accessToken)).body).toEqual({ enabled: false });
    expect(
      (await push(alice, [{ id: 'e1', baseRevision: 0, content: { t: 'plain' } }])).status,
    ).toBe(200);
    expect((await upload(alice, 'plain-photo', 'image/png', randomBytes(500))).status).toBe(201);
    expectProblem(
      await api.post('/sync/encryption/finish', {}, alice.accessToken),
      409,
      'encryption_not_enabled',
    );

    // Above auth's 16 KiB and below the call's 64 KiB: the gateway lets it through.
    const keys = Array.from({ length: 40 }, (_, i) => ({
      kid: `key${String(i).padStart(8, '0')}`,
      wrapped: envelope('master', 400),
    }));
    const bundle = bundleWrite({ contentKeys: keys, currentKid: 'key00000000' });
    expect(JSON.stringify(bundle).length).toBeGreaterThan(16 * 1024);
    const created = await putBundle(alice, { expectedVersion: 0, bundle });
    expect(created.status, created.text).toBe(200);
    expect(created.body).toMatchObject({ version: 1, state: 'migrating' });
    expect((await api.get('/auth/encryption', alice.accessToken)).body).toEqual({
      enabled: true,
      bundle: created.body,
    });
    expect((await api.get('/auth/encryption', bob.accessToken)).body).toEqual({ enabled: false });
    const stale = await putBundle(alice, { expectedVersion: 0, bundle });
    expectProblem(stale, 409, 'version_conflict');
    expect((stale.body as { current: unknown }).current).toEqual(created.body);
    // Over 64 KiB: refused by the gateway on the declared length.
    const huge = bundleWrite({
      contentKeys: [...keys, { kid: 'big', wrapped: envelope('master', 70_000) }],
      currentKid: 'big',
    });
    expectProblem(
      await putBundle(alice, { expectedVersion: 1, bundle: huge }),
      413,
      'payload_too_large',
    );

    const plain = await push(alice, [{ id: 'e2', baseRevision: 0, content: { t: 'plain' } }]);
    expectProblem(plain, 403, 'encryption_required');
    expectProblem(
      await upload(alice, 'plain-2', 'image/png', randomBytes(500)),
      403,
      'encryption_required',
    );
    const remaining = await api.post('/sync/encryption/finish', {}, alice.accessToken);
    expectProblem(remaining, 409, 'plaintext_remaining');
    expect((remaining.body as { entries: string[] }).entries).toEqual(['e1']);

    expect((await push(alice, [{ id: 'e1', baseRevision: 1, content: envelope() }])).status).toBe(
      200,
    );
    const sealed = encryptedFile(2048);
    expect((await upload(alice, 'sealed-photo', ENCRYPTED_TYPE, sealed)).status).toBe(201);
    const back = await fetch(`${stack.gateway}/attachments/sealed-photo`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    expect(Buffer.from(await back.arrayBuffer()).equals(sealed)).toBe(true);
    const finished = await api.call('POST', '/sync/encryption/finish', {
      token: alice.accessToken,
    });
    expect(finished.status, finished.text).toBe(200);
    expect(finished.body).toEqual({ purgedVersions: 1 });

    const attachments = await api.post('/attachments/encryption/finish', {}, alice.accessToken);
    expectProblem(attachments, 409, 'plaintext_remaining');
    expect(attachments.body).toMatchObject({ attachments: ['plain-photo'], qiniuKeys: [] });
    await api.call('DELETE', '/attachments/plain-photo', { token: alice.accessToken });
    const done = await api.call('POST', '/attachments/encryption/finish', {
      token: alice.accessToken,
    });
    expect(done.status, done.text).toBe(200);
    expect(done.body).toEqual({});

    const on = await putBundle(alice, {
      expectedVersion: 1,
      bundle: { ...bundle, state: 'on', migration: null },
    });
    expect(on.body).toMatchObject({ version: 2, state: 'on', migration: null });
    // Bob, without encryption, is untouched by all of it.
    expect((await push(bob, [{ id: 'b', baseRevision: 0, content: { t: 'plain' } }])).status).toBe(
      200,
    );
  });
});
