import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { JournalClient, type JournalClientOptions } from '@journal/client';

export function uniqueUser(label: string): string {
  return `${label}_${randomBytes(5).toString('hex')}`;
}

export const PASSWORD = 'correct horse battery';

export function newClient(
  baseUrl: string,
  options: Partial<JournalClientOptions> = {},
): JournalClient {
  return new JournalClient({ baseUrl, ...options });
}

/** Counts requests per `METHOD path` as a fetch wrapper sees them. */
export function countingFetch(): {
  fetch: typeof fetch;
  count(key: string): number;
  counts: Map<string, number>;
} {
  const counts = new Map<string, number>();
  const wrapped = ((input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const key = `${init?.method ?? 'GET'} ${url.pathname}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: wrapped, count: (k) => counts.get(k) ?? 0, counts };
}

/** How one proxied connection is cut: after this many bytes up (to the server) or down. */
export interface Cut {
  upAfter?: number;
  downAfter?: number;
}

/**
 * A loopback TCP proxy in front of the gateway that can cut connections mid-request or
 * mid-response (`plan` decides per connection), or refuse everything (`down`).
 */
export class FaultProxy {
  private server: net.Server;
  private sockets = new Set<net.Socket>();
  port = 0;
  connections = 0;
  cuts = 0;
  down = false;
  /** The head of every request seen (method line and headers). */
  heads: string[] = [];
  /**
   * Answers to requests this picks are swallowed (the server did the work, the client never
   * hears of it); `onSwallow` is told when such an answer arrives.
   */
  swallow: ((requestHead: string) => boolean) | undefined;
  onSwallow: ((requestHead: string) => void) | undefined;

  constructor(
    private readonly target: { host: string; port: number },
    public plan: (connection: number) => Cut | undefined = () => undefined,
  ) {
    this.server = net.createServer((client) => this.handle(client));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  /** Ends every open connection (like a network change). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(client: net.Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const n = this.connections++;
    const cut = this.plan(n);
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client);
    this.sockets.add(upstream);
    let up = 0;
    let downBytes = 0;
    let lastHead = '';
    const kill = () => {
      this.cuts++;
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      const text = chunk.subarray(0, 4096).toString('latin1');
      if (/^(GET|POST|PUT|DELETE|HEAD|PATCH) /.test(text)) {
        lastHead = text.split('\r\n\r\n')[0] ?? '';
        this.heads.push(lastHead);
      }
      if (cut?.upAfter !== undefined && up + chunk.length > cut.upAfter) {
        upstream.write(chunk.subarray(0, Math.max(0, cut.upAfter - up)), () => kill());
        up = Number.POSITIVE_INFINITY;
        return;
      }
      up += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.swallow?.(lastHead)) {
        this.onSwallow?.(lastHead);
        return;
      }
      if (cut?.downAfter !== undefined && downBytes + chunk.length > cut.downAfter) {
        client.write(chunk.subarray(0, Math.max(0, cut.downAfter - downBytes)), () => kill());
        downBytes = Number.POSITIVE_INFINITY;
        return;
      }
      downBytes += chunk.length;
      client.write(chunk);
    });
    const end = () => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  }
}

export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** Polls `check` until it holds (or throws after `ms`). */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One form upload as Qiniu's stand-in received it. */
export interface QiniuForm {
  token: unknown;
  key: unknown;
  file: Buffer;
  type: string;
}

/**
 * Stands in for Qiniu's form-upload endpoint (a third party, not the journal API): keeps every
 * form it receives in `forms` and answers as Qiniu does. `env` points a test stack at it.
 */
export async function startQiniuFormStandIn(): Promise<{
  forms: QiniuForm[];
  env: Record<string, string>;
  close(): void;
}> {
  const forms: QiniuForm[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = await new Request('http://qiniu/', {
      method: 'POST',
      headers: { 'content-type': String(req.headers['content-type']) },
      body: Buffer.concat(chunks),
    }).formData();
    const file = form.get('file') as Blob;
    forms.push({
      token: form.get('token'),
      key: form.get('key'),
      file: Buffer.from(await file.arrayBuffer()),
      type: file.type,
    });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ key: form.get('key'), hash: 'Fq-etag' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    forms,
    env: {
      QINIU_ACCESS_KEY: 'test-access-key',
      QINIU_SECRET_KEY: 'test-secret-key',
      QINIU_BUCKET_NAME: 'journal-test',
      QINIU_UPLOAD_DOMAIN: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    },
    close: () => server.close(),
  };
}
