import { JournalError } from '../errors.js';
import type { SyncStatus } from './types.js';

/** What the live loop drives (the SyncEngine). */
export interface LiveHost {
  pushAll(): Promise<void>;
  pullAll(): Promise<void>;
  pullPage(wait: number, signal?: AbortSignal): Promise<boolean>;
  setStatus(s: SyncStatus): void;
  reportError(err: Error): void;
  retryDelay(err: unknown, attempt: number): number;
  /** End-to-end encryption is on and this device holds no keys: no push, no pull. */
  locked(): boolean;
}

export function statusOf(err: unknown): SyncStatus {
  if (err instanceof JournalError) {
    if (err.code === 'signed_out') return 'signed_out';
    if (err.code === 'network') return 'offline';
  }
  return 'error';
}

/**
 * Live mode: push, pull until up to date, then long-poll with `wait`; a local edit (nudge)
 * aborts the poll and pushes at once; failures back off; offline waits for the network.
 */
export class LiveLoop {
  private running = false;
  private loopDone: Promise<void> | undefined;
  private stopController = new AbortController();
  private pollController: AbortController | undefined;
  private nudged = false;
  private online: boolean;
  private wake: (() => void) | undefined;
  private readonly detach: (() => void) | undefined;

  constructor(
    private readonly host: LiveHost,
    private readonly waitSeconds: number | undefined,
  ) {
    const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
    this.online = typeof nav?.onLine === 'boolean' ? nav.onLine : true;
    const target = globalThis as {
      addEventListener?: (name: string, fn: () => void) => void;
      removeEventListener?: (name: string, fn: () => void) => void;
    };
    if (typeof target.addEventListener === 'function' && typeof nav?.onLine === 'boolean') {
      const up = () => this.setOnline(true);
      const down = () => this.setOnline(false);
      target.addEventListener('online', up);
      target.addEventListener('offline', down);
      this.detach = () => {
        target.removeEventListener?.('online', up);
        target.removeEventListener?.('offline', down);
      };
    }
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Network reachability from the app (React Native NetInfo, tests); browsers report it. */
  setOnline(online: boolean): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.wake?.();
    else {
      this.pollController?.abort();
      if (this.running) this.host.setStatus('offline');
    }
  }

  /** Tells the live loop to push now instead of waiting for its long-poll. */
  nudge(): void {
    if (!this.running) return;
    this.nudged = true;
    this.pollController?.abort();
    this.wake?.();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopController = new AbortController();
    this.loopDone = this.loop().finally(() => {
      this.running = false;
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopController.abort();
    this.pollController?.abort();
    this.wake?.();
    await this.loopDone;
    this.loopDone = undefined;
  }

  /** Removes the browser's online/offline listeners. */
  dispose(): void {
    this.detach?.();
  }

  private waitForWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.stopController.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async loop(): Promise<void> {
    const host = this.host;
    let failures = 0;
    const wait = Math.min(30, Math.max(1, this.waitSeconds ?? 25));
    while (this.running) {
      if (!this.online) {
        host.setStatus('offline');
        await this.waitForWake(60_000);
        continue;
      }
      if (host.locked()) {
        // Until an unlock (it wakes the loop): the edits wait in the outbox.
        host.setStatus('locked');
        await this.waitForWake(60_000);
        continue;
      }
      try {
        host.setStatus('syncing');
        this.nudged = false;
        await host.pushAll();
        await host.pullAll();
        await host.pushAll();
        failures = 0;
        while (this.running && this.online && !host.locked()) {
          if (this.nudged) {
            this.nudged = false;
            host.setStatus('syncing');
            await host.pushAll();
          }
          host.setStatus('live');
          this.pollController = new AbortController();
          let more: boolean;
          try {
            more = await host.pullPage(wait, this.pollController.signal);
          } catch (err) {
            if (err instanceof JournalError && err.code === 'aborted') continue;
            throw err;
          } finally {
            this.pollController = undefined;
          }
          if (more) await host.pullAll();
          await host.pushAll();
        }
      } catch (err) {
        if (!this.running) break;
        if (err instanceof JournalError && err.code === 'aborted') continue;
        const status = statusOf(err);
        host.setStatus(status);
        if (status === 'signed_out') {
          this.running = false;
          break;
        }
        host.reportError(err as Error);
        failures++;
        // A local edit (nudge) or the network coming back ends the wait at once: an edit made
        // during a backoff is pushed now, not up to 30 s later.
        await this.waitForWake(host.retryDelay(err, failures - 1));
      }
    }
  }
}
