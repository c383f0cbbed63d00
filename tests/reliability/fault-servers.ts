import { spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { freePort } from '../../scripts/lib/proc.js';

/**
 * Outside dependencies that misbehave, on loopback only: each gives a base URL
 * (`http://host:port`) that the Qiniu management hosts, the OTLP collector or the JWKS URL can
 * point at, and `close()`. The kinds are the ways a real host fails.
 */
export const FAULT_KINDS = [
  'unresolvable',
  'refused',
  'accepts-never-answers',
  'backlog-full',
  'slow',
  'http-503',
  'garbage',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultServer {
  kind: FaultKind;
  /** `http://host:port` without a trailing slash. */
  base: string;
  close(): Promise<void>;
}

async function httpServer(
  handler: Parameters<typeof createHttpServer>[1],
): Promise<{ base: string; server: Server }> {
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** True when a TCP connection to `port` completes within `ms`. */
export function connects(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * A listening socket that never accepts, its backlog filled by connections held here: a SYN
 * beyond the backlog is dropped, so a client's connect times out (a black-holed host). Node
 * accepts every connection itself, so the socket is held by a small Python process.
 */
async function backlogFull(): Promise<FaultServer> {
  const child = spawn(
    'python3',
    [
      '-c',
      [
        'import socket, sys, time',
        's = socket.socket()',
        "s.bind(('127.0.0.1', 0))",
        's.listen(0)',
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
      ].join('\n'),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  // Fill the accept queue (its length is the backlog + 1 on Linux) with connections of ours.
  const held: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    held.push(socket);
  }
  return {
    kind: 'backlog-full',
    base: `http://127.0.0.1:${port}`,
    async close() {
      for (const socket of held) socket.destroy();
      child.stdin.end();
      child.kill('SIGKILL');
    },
  };
}

export async function startFault(kind: FaultKind): Promise<FaultServer> {
  switch (kind) {
    case 'unresolvable':
      // RFC 6761: `.invalid` never resolves.
      return { kind, base: 'http://outside-dependency.invalid', close: async () => {} };
    case 'refused': {
      const port = await freePort();
      return { kind, base: `http://127.0.0.1:${port}`, close: async () => {} };
    }
    case 'accepts-never-answers': {
      const sockets = new Set<Socket>();
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return {
        kind,
        base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: async () => {
          for (const socket of sockets) socket.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    }
    case 'backlog-full':
      return backlogFull();
    case 'slow': {
      // Answers, but only after every client's timeout has passed.
      const timers = new Set<NodeJS.Timeout>();
      const { base, server } = await httpServer((req, res) => {
        req.resume();
        const timer = setTimeout(() => {
          timers.delete(timer);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        }, 120_000);
        timers.add(timer);
      });
      return {
        kind,
        base,
        close: async () => {
          for (const timer of timers) clearTimeout(timer);
          await closeHttp(server);
        },
      };
    }
    case 'http-503': {
      const { base, server } = await httpServer((req, res) => {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable"}');
      });
      return { kind, base, close: () => closeHttp(server) };
    }
    case 'garbage': {
      const { base, server } = await httpServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>captive portal</html>');
      });
      return { kind, base, close: () => closeHttp(server) };
    }
  }
}

/** The value of `name{labels…}` in a Prometheus text exposition (NaN when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const set = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) {
      return Number(match[3]);
    }
  }
  return Number.NaN;
}
