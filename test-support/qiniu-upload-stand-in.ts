import { createHash, createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An object the stand-in holds: its bytes and the MIME type Qiniu would record. */
export interface StoredObject {
  key: string;
  bytes: Buffer;
  mimeType: string;
}

const b64url = (b: Buffer) => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');

/** Qiniu's etag of a file up to 4 MiB: 0x16 then its SHA-1, URL-safe base64. */
function qiniuEtag(bytes: Buffer): string {
  return b64url(Buffer.concat([Buffer.from([0x16]), createHash('sha1').update(bytes).digest()]));
}

/** Qiniu's `mimeLimit`: `;`-separated types, `*` wildcards, or all of them negated with `!`. */
function mimeAllowed(limit: string | undefined, type: string): boolean {
  if (!limit) return true;
  const negated = limit.startsWith('!');
  const patterns = (negated ? limit.slice(1) : limit).split(';').map((p) => p.trim());
  const hit = patterns.some((p) =>
    new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i').test(type),
  );
  return negated ? !hit : hit;
}

/**
 * A loopback stand-in of Qiniu's form upload (`POST /` with token, key and file), beside the
 * management stand-in (qiniu-stand-in.ts), whose `objects` it adds keys to. Like Qiniu it checks
 * the token's signature, scope, deadline, size and MIME limits and `insertOnly`, keeps the
 * file's bytes (its declared type: the journal's tokens set `detectMime: 0` or none), then
 * makes the policy's callback (QBox-signed) and answers with the callback's answer.
 */
export function qiniuUploadStandIn(opts: {
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** The management stand-in's bucket: an object deleted there is gone here too. */
  objects: Set<string>;
}) {
  const stored = new Map<string, StoredObject>();
  const callbacks: { url: string; status: number; body: string }[] = [];
  const sign = (data: string) => b64url(createHmac('sha1', opts.secretKey).update(data).digest());

  async function upload(
    form: FormData,
  ): Promise<{ status: number; body: unknown; contentType?: string }> {
    const token = String(form.get('token') ?? '');
    const key = String(form.get('key') ?? '');
    const file = form.get('file');
    const [ak, signature, encoded] = token.split(':');
    if (ak !== opts.accessKey || !encoded || signature !== sign(encoded)) {
      return { status: 401, body: { error: 'bad token' } };
    }
    const policy = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    if (policy.scope !== `${opts.bucket}:${key}`)
      return { status: 403, body: { error: 'scope mismatch' } };
    if (Number(policy.deadline) * 1000 < Date.now())
      return { status: 401, body: { error: 'expired token' } };
    if (!(file instanceof Blob)) return { status: 400, body: { error: 'no file' } };
    const bytes = Buffer.from(await file.arrayBuffer());
    if (typeof policy.fsizeLimit === 'number' && bytes.length > policy.fsizeLimit) {
      return { status: 413, body: { error: 'file too large' } };
    }
    const mimeType = file.type || 'application/octet-stream';
    if (!mimeAllowed(policy.mimeLimit as string | undefined, mimeType)) {
      return { status: 403, body: { error: 'limited mimeType' } };
    }
    if (policy.insertOnly && opts.objects.has(key))
      return { status: 614, body: { error: 'file exists' } };
    stored.set(key, { key, bytes, mimeType });
    opts.objects.add(key);
    const etag = qiniuEtag(bytes);
    if (typeof policy.callbackUrl !== 'string') return { status: 200, body: { key, hash: etag } };
    const body = String(policy.callbackBody ?? '')
      .replaceAll('$(key)', key)
      .replaceAll('$(fsize)', String(bytes.length))
      .replaceAll('$(etag)', etag)
      .replaceAll('$(mimeType)', mimeType)
      .replaceAll('$(bucket)', opts.bucket);
    const url = new URL(policy.callbackUrl);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': String(policy.callbackBodyType ?? 'application/x-www-form-urlencoded'),
        authorization: `QBox ${opts.accessKey}:${sign(`${url.pathname}${url.search}\n${body}`)}`,
      },
      body,
    });
    const text = await res.text();
    callbacks.push({ url: url.href, status: res.status, body: text });
    if (!res.ok) return { status: 579, body: { error: `callback failed: ${res.status} ${text}` } };
    return { status: 200, body: text, contentType: 'application/json' };
  }

  const server: Server = createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const form = await new Request('http://qiniu/', {
        method: 'POST',
        headers: { 'content-type': String(req.headers['content-type']) },
        body: Buffer.concat(chunks),
      }).formData();
      const out = await upload(form);
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(typeof out.body === 'string' ? out.body : JSON.stringify(out.body));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err) }));
    }
  });

  return {
    callbacks,
    /** The objects still in the bucket (deleted through the management API: gone). */
    stored: (): StoredObject[] => [...stored.values()].filter((o) => opts.objects.has(o.key)),
    async listen(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
