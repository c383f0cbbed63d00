import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface QiniuStandInOptions {
  accessKey: string;
  secretKey: string;
  bucket: string;
}

/**
 * A local stand-in (loopback, for tests) of Qiniu's resource-management API (`POST /list` of
 * rsf, `POST /batch` of rs) holding a bucket in memory. Like Qiniu it refuses a request whose
 * `Authorization` is not a valid "Qiniu <AK>:<sign>" signature made with the secret key.
 */
export function qiniuStandIn({
  accessKey: AK,
  secretKey: SK,
  bucket: BUCKET,
}: QiniuStandInOptions) {
  const objects = new Set<string>();
  const requests: { path: string; verified: boolean; ops: number }[] = [];

  /** Qiniu's v2 request signature, recomputed from the request as it arrived. */
  function expectedSignature(req: IncomingMessage, body: string): string {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const contentType = req.headers['content-type'] ?? 'application/x-www-form-urlencoded';
    const host = req.headers.host ?? '';
    // The SDK (7.x) signs `Host: <host:port>:<port>` when the URL has an explicit port; on
    // Qiniu's real hosts (default ports) that is just the Host header.
    const port = host.includes(':') ? host.slice(host.lastIndexOf(':') + 1) : '';
    let data = `${req.method} ${url.pathname}${url.search}\nHost: ${host}${port ? `:${port}` : ''}`;
    data += `\nContent-Type: ${contentType}`;
    const qiniuHeaders = Object.entries(req.headers)
      .filter(([name]) => name.startsWith('x-qiniu-') && name.length > 'x-qiniu-'.length)
      .map(([name, value]) => [
        name
          .split('-')
          .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
          .join('-'),
        String(value),
      ])
      .sort(([a], [b]) => ((a as string) < (b as string) ? -1 : 1))
      .map(([name, value]) => `${name}: ${value}`);
    if (qiniuHeaders.length > 0) data += `\n${qiniuHeaders.join('\n')}`;
    data += '\n\n';
    if (body && contentType !== 'application/octet-stream') data += body;
    const digest = createHmac('sha1', SK).update(data).digest('base64');
    return digest.replace(/\+/g, '-').replace(/\//g, '_');
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://placeholder');
      const verified =
        req.method === 'POST' &&
        req.headers.authorization === `Qiniu ${AK}:${expectedSignature(req, body)}`;
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      const record = { path: url.pathname, verified, ops: 0 };
      requests.push(record);
      if (!verified) return reply(401, { error: 'bad token' });
      if (url.pathname === '/list') {
        if (url.searchParams.get('bucket') !== BUCKET) return reply(631, { error: 'no bucket' });
        const prefix = url.searchParams.get('prefix') ?? '';
        const limit = Number(url.searchParams.get('limit') ?? 1000);
        const marker = url.searchParams.get('marker') ?? '';
        const keys = [...objects].filter((k) => k.startsWith(prefix) && k > marker).sort();
        const page = keys.slice(0, limit);
        return reply(200, {
          items: page.map((key) => ({ key, fsize: 1, hash: 'h', putTime: 1, mimeType: 'x' })),
          ...(keys.length > limit ? { marker: page.at(-1) } : {}),
        });
      }
      if (url.pathname === '/batch') {
        const ops = new URLSearchParams(body).getAll('op');
        record.ops = ops.length;
        if (ops.length > 1000) return reply(400, { error: 'too many ops' });
        const results = ops.map((op) => {
          const [, verb, entry] = op.split('/');
          const [bucket, ...key] = Buffer.from(entry ?? '', 'base64url')
            .toString('utf8')
            .split(':');
          if (verb !== 'delete' || bucket !== BUCKET) return { code: 400, data: {} };
          return objects.delete(key.join(':')) ? { code: 200 } : { code: 612, data: {} };
        });
        const allOk = results.every((r) => r.code === 200);
        return reply(allOk ? 200 : 298, results);
      }
      return reply(404, { error: 'no such api' });
    });
  });

  return {
    objects,
    requests,
    /** Listens on `port` (default: a free one) of 127.0.0.1; returns its base URL. */
    async listen(port = 0): Promise<string> {
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type QiniuStandIn = ReturnType<typeof qiniuStandIn>;
