import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';

/** One request and its answer as they crossed the proxy (bodies kept chunk by chunk). */
export interface Exchange {
  seq: number;
  /** The proxy's phase when the request arrived, and when its answer ended. */
  phase: string;
  endPhase: string | undefined;
  method: string;
  url: string;
  status: number | undefined;
  requestHeaders: IncomingHttpHeaders;
  responseHeaders: IncomingHttpHeaders;
  requestChunks: Buffer[];
  responseChunks: Buffer[];
  done: boolean;
}

/**
 * The bytes of a body as the other side reads them: decompressed per its Content-Encoding
 * (gzip, deflate, br; a stream cut short is decoded as far as it goes). `decoded` is false
 * when an encoding was named but could not be undone (the raw bytes are returned then).
 */
export function decodeBody(
  chunks: Buffer[],
  encoding: string | string[] | undefined,
): { bytes: Buffer; decoded: boolean } {
  let bytes = Buffer.concat(chunks);
  const codings = String(encoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c && c !== 'identity')
    .reverse();
  try {
    for (const coding of codings) {
      if (coding === 'gzip' || coding === 'x-gzip') {
        bytes = zlib.gunzipSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      } else if (coding === 'deflate') {
        const flush = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
        try {
          bytes = zlib.inflateSync(bytes, flush);
        } catch {
          bytes = zlib.inflateRawSync(bytes, flush);
        }
      } else if (coding === 'br') {
        bytes = zlib.brotliDecompressSync(bytes, {
          finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
        });
      } else {
        return { bytes: Buffer.concat(chunks), decoded: false };
      }
    }
  } catch {
    return { bytes: Buffer.concat(chunks), decoded: false };
  }
  return { bytes, decoded: true };
}

/**
 * A recording HTTP proxy (loopback) in front of one upstream (the gateway): every request is
 * piped on as it arrives and every answer back as it streams, and both bodies are kept, so the
 * test reads exactly the HTTP bodies the gateway saw. `phase` labels what is recorded from now.
 */
export class RecordingProxy {
  readonly exchanges: Exchange[] = [];
  phase = 'setup';
  private server: Server;
  private upstream: URL | undefined;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens first (so services can be told its URL), the upstream is named later. */
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  forwardTo(upstream: string): void {
    this.upstream = new URL(upstream);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    const target = this.upstream;
    const ex: Exchange = {
      seq: this.exchanges.length,
      phase: this.phase,
      endPhase: undefined,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: undefined,
      requestHeaders: req.headers,
      responseHeaders: {},
      requestChunks: [],
      responseChunks: [],
      done: false,
    };
    this.exchanges.push(ex);
    if (!target) {
      res.writeHead(503).end();
      return;
    }
    const headers = { ...req.headers, host: target.host };
    const up = httpRequest(
      { hostname: target.hostname, port: target.port, method: ex.method, path: ex.url, headers },
      (upRes) => {
        ex.status = upRes.statusCode;
        ex.responseHeaders = upRes.headers;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.on('data', (chunk: Buffer) => {
          ex.responseChunks.push(chunk);
          res.write(chunk);
        });
        upRes.on('end', () => {
          ex.done = true;
          ex.endPhase = this.phase;
          res.end();
        });
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('error', () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
    req.on('data', (chunk: Buffer) => {
      ex.requestChunks.push(chunk);
      up.write(chunk);
    });
    req.on('end', () => up.end());
    req.on('error', () => up.destroy());
    res.on('close', () => {
      if (!ex.done) up.destroy();
    });
  }
}
