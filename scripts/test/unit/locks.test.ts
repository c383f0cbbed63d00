import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockIsStale, withLock } from '../../lib/tools.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'journal-locks-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (so no process has it, for now). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.exit(0)']);
  return child.pid as number;
}

async function leaveLock(name: string, owner?: string, ageMs = 0): Promise<string> {
  const lock = join(dir, `${name}.lock`);
  await mkdir(lock);
  if (owner !== undefined) await writeFile(join(lock, 'owner'), owner);
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await utimes(lock, then, then);
  }
  return lock;
}

describe('withLock', () => {
  it('holds the lock with its pid while running, and removes it after', async () => {
    const lock = join(dir, 'a.lock');
    const seen = await withLock('a', async () => readFile(join(lock, 'owner'), 'utf8'), dir);
    expect(seen.trim()).toBe(String(process.pid));
    expect(existsSync(lock)).toBe(false);
  });

  it('clears a lock left by a killed process and runs at once', async () => {
    const lock = await leaveLock('b', `${deadPid()}\n`);
    expect(await lockIsStale(lock)).toBe(true);
    const started = Date.now();
    expect(await withLock('b', async () => 'ran', dir, { timeoutMs: 5_000 })).toBe('ran');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('clears a lock that has had no owner for a while (its maker died right after mkdir)', async () => {
    const lock = await leaveLock('c', undefined, 60_000);
    expect(await lockIsStale(lock)).toBe(true);
    expect(await withLock('c', async () => 'ran', dir, { timeoutMs: 5_000 })).toBe('ran');
  });

  it('waits for a lock whose owner is alive, or that was made a moment ago', async () => {
    const live = await leaveLock('d', `${process.pid}\n`);
    expect(await lockIsStale(live)).toBe(false);
    await expect(
      withLock('d', async () => 'ran', dir, { timeoutMs: 300, pollMs: 50 }),
    ).rejects.toThrow(/timed out/);
    expect(existsSync(live)).toBe(true);

    const fresh = await leaveLock('e');
    expect(await lockIsStale(fresh)).toBe(false);
  });

  it('lets one holder in at a time', async () => {
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withLock(
          'f',
          async () => {
            inside += 1;
            most = Math.max(most, inside);
            await new Promise((r) => setTimeout(r, 20));
            inside -= 1;
          },
          dir,
          { pollMs: 10 },
        ),
      ),
    );
    expect(most).toBe(1);
  });
});
