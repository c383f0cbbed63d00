import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JournalClient, MemoryTokenStore } from '@journal/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import { FaultProxy, hostPort, PASSWORD, uniqueUser } from './helpers.js';

const device = fileURLToPath(new URL('./fixtures/device.ts', import.meta.url));
let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack('sdk-crash');
  dir = await mkdtemp(join(tmpdir(), 'sdk-crash-'));
});
afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], tokens: unknown): { child: ChildProcess; output: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', device, ...args], {
    env: { ...process.env, JOURNAL_TOKENS: JSON.stringify(tokens) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  const output = new Promise<string>((resolve) =>
    // 'close', not 'exit': it comes after the output streams have ended, so nothing is missed.
    child.on('close', (code, signal) => resolve(`${out}\nexit ${code} ${signal}`)),
  );
  return { child, output };
}

describe('crash safety', () => {
  it('a device killed between its push and the reply drains its outbox on restart, no duplicates', async () => {
    const tokenStore = new MemoryTokenStore();
    const observer = new JournalClient({ baseUrl: stack.gateway, tokenStore });
    await observer.auth.register({ username: uniqueUser('crash'), password: PASSWORD });
    const tokens = tokenStore.get();
    const db = join(dir, 'device.db');
    const proxy = await new FaultProxy(hostPort(stack.gateway)).listen();
    try {
      // The server applies the push; its reply never reaches the device, which is killed then.
      proxy.swallow = (head) => head.startsWith('POST /sync/push');
      const answered = new Promise<void>((resolve) => {
        proxy.onSwallow = () => resolve();
      });
      const first = run(['edit', proxy.url, db, '40'], tokens);
      await Promise.race([answered, first.output.then((o) => Promise.reject(new Error(o)))]);
      first.child.kill('SIGKILL');
      const out1 = await first.output;
      expect(out1).toContain('"edited":40');
      expect(out1).not.toContain('pushed');

      await observer.sync.syncNow();
      const applied = await observer.entries.list();
      expect(applied).toHaveLength(40);

      proxy.swallow = undefined;
      const second = run(['drain', proxy.url, db], tokens);
      const out2 = await second.output;
      const result = JSON.parse(
        out2.split('\n').find((l) => l.startsWith('{"pending"')) ?? '{}',
      ) as {
        pending: number;
        entries: [string, number][];
      };
      expect(result.pending).toBe(0);
      expect(result.entries).toHaveLength(40);
      // The resent batch carried the same Idempotency-Key as the one that was lost.
      const keys = proxy.heads
        .filter((h) => h.startsWith('POST /sync/push'))
        .map((h) => /\r\nidempotency-key: ([^\r]+)/i.exec(h)?.[1]);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toBeDefined();
      expect(keys[1]).toBe(keys[0]);

      await observer.sync.syncNow();
      const after = await observer.entries.list();
      expect(after.map((e) => [e.id, e.revision])).toEqual(applied.map((e) => [e.id, e.revision]));
      expect(new Set(after.map((e) => e.content?.i)).size).toBe(40);
      expect(result.entries.sort()).toEqual(after.map((e) => [e.id, e.revision]).sort());
    } finally {
      await proxy.close();
    }
  });
});
