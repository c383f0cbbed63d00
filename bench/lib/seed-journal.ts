import { randomBytes } from 'node:crypto';
import { JournalClient, MemoryStore, MemoryTokenStore } from '@journal/client';
import type { UnlockedKeys } from '../../clients/js/src/crypto/index.js';

/** The SDK's crypto module, loaded when a journal is encrypted. */
const cryptoModule = () => import('../../clients/js/src/crypto/index.js');

/** Changes per seeding push (a 500-change push outlasted the gateway's timeout once). */
const SEED_BATCH = 100;

export interface SeededJournal {
  username: string;
  password: string;
  token: string;
  /** Encrypted accounts: the encryption passphrase (not the account password). */
  passphrase: string;
  /** The content of entry `e<i>` as the SDK must read it back. */
  contentOf(i: number): Record<string, unknown>;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

/**
 * Turns end-to-end encryption on for the account as a device would (`enable`, then `resume()`
 * until the migration of the empty journal is done: the bundle's state is `on`), and returns the
 * keys that open it, from the bundle the server now serves.
 */
async function turnOnEncryption(
  gatewayUrl: string,
  account: { username: string; password: string; userId: string; token: string },
  passphrase: string,
): Promise<UnlockedKeys> {
  const { username, password } = account;
  const client = new JournalClient({
    baseUrl: gatewayUrl,
    tokenStore: new MemoryTokenStore(),
    store: new MemoryStore(),
  });
  try {
    await client.auth.login({ username, password });
    await client.encryption.enable({ passphrase, accountPassword: password });
    await client.encryption.resume();
    const res = await fetch(`${gatewayUrl}/auth/encryption`, {
      headers: { authorization: `Bearer ${account.token}` },
    });
    const status = (await res.json()) as { enabled: boolean; bundle?: { state: string } };
    if (!status.enabled || status.bundle?.state !== 'on') {
      throw new Error(`encryption not on after resume(): ${JSON.stringify(status).slice(0, 200)}`);
    }
    const { unlockWithPassphrase } = await cryptoModule();
    return unlockWithPassphrase(account.userId, status.bundle as never, passphrase);
  } finally {
    await client.close();
  }
}

/**
 * A new account with n entries (`e0`…), 100 per push, one push at a time (not measured); a push
 * the server could not answer in time is sent again with its Idempotency-Key. With `encrypted`,
 * the account has encryption on and each change's content is the envelope `encryptEntry` makes
 * of the same content (clientUpdatedAt null, as the SDK pushes them).
 */
export async function seedJournal(
  gatewayUrl: string,
  n: number,
  encrypted: boolean,
): Promise<SeededJournal> {
  const username = `bench_sdk_${randomBytes(5).toString('hex')}`;
  const password = 'bench password 1';
  const passphrase = 'bench encryption passphrase 1';
  const session = (await post(`${gatewayUrl}/auth/register`, { username, password })) as {
    accessToken: string;
    user: { id: string };
  };
  const keys = encrypted
    ? await turnOnEncryption(
        gatewayUrl,
        { username, password, userId: session.user.id, token: session.accessToken },
        passphrase,
      )
    : undefined;
  const seal = keys ? (await cryptoModule()).encryptEntry : undefined;
  const body = 'x'.repeat(160);
  const contentOf = (i: number) => ({ title: `entry ${i}`, body, tags: ['bench'], mood: i % 5 });
  for (let start = 0; start < n; start += SEED_BATCH) {
    const changes = Array.from({ length: Math.min(SEED_BATCH, n - start) }, (_, k) => {
      const id = `e${start + k}`;
      const content = contentOf(start + k);
      return keys && seal
        ? { id, baseRevision: 0, content: seal(keys, id, content, null) }
        : { id, baseRevision: 0, content };
    });
    const key = `seed-${start}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await post(
          `${gatewayUrl}/sync/push`,
          { changes },
          { authorization: `Bearer ${session.accessToken}`, 'idempotency-key': key },
        );
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
  process.stderr.write(`  seeded ${n} ${encrypted ? 'encrypted ' : ''}entries\n`);
  return { username, password, token: session.accessToken, passphrase, contentOf };
}
