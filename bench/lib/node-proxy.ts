import { createServer } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';

/**
 * The bench's "node proxy" reference: the least a Node.js reverse proxy can do (node:http in,
 * an undici pool out, bodies streamed, no token check, no Redis, no rate limit, no logging).
 * It routes like the bench's nginx (`/<upstream>/<path>` to `<path>` of that upstream), so the
 * gateway, nginx and this floor are compared on the same calls. argv[2]: JSON
 * `{ "port": n, "upstreams": { "auth": "http://…" } }`.
 */
const o = JSON.parse(process.argv[2] ?? '{}') as {
  port: number;
  upstreams: Record<string, string>;
};
const pools = new Map(
  Object.entries(o.upstreams).map(([name, url]) => [name, new Pool(url, { connections: 128 })]),
);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

createServer(async (req, res) => {
  const url = req.url ?? '/';
  const slash = url.indexOf('/', 1);
  const pool = pools.get(url.slice(1, slash));
  if (slash < 0 || !pool) {
    res.writeHead(404).end();
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  try {
    const upstream = await pool.request({
      method: req.method as 'GET',
      path: url.slice(slash),
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
    });
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
    }
    res.writeHead(upstream.statusCode, out);
    await pipeline(upstream.body, res);
  } catch {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  }
}).listen(o.port, '127.0.0.1');
