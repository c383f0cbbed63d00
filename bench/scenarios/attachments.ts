import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request as undiciRequest } from 'undici';
import { entryId } from '../lib/client.js';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { ok, peakRss, sequence } from '../lib/measure.js';

/**
 * Attachments: 1 MiB up and down one after another (MiB/s), then one `BENCH_BIG_MIB` transfer
 * each way with the peak resident memory of every process (streamed, never held whole).
 */
export const attachments: Scenario = {
  name: '5 attachments',
  async run({ stack, headers, pids, report }) {
    const oneMiB = randomBytes(1024 * 1024);
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.attachments],
    ] as const) {
      const up = await sequence(
        () =>
          ok(`${base}/attachments/${entryId()}`, {
            method: 'PUT',
            headers: { ...headers, 'content-type': 'application/octet-stream' },
            body: oneMiB,
          }),
        5,
      );
      report.record('5 upload 1 MiB', path, 'MiB/s', up);
    }
    await ok(`${stack.urls.gateway}/attachments/one-mib`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: oneMiB,
    });
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.attachments],
    ] as const) {
      const down = await sequence(() => ok(`${base}/attachments/one-mib`, { headers }), 5);
      report.record('5 download 1 MiB', path, 'MiB/s', down);
    }
    const big = async (base: string, id: string) => {
      const size = SETTINGS.bigMiB * 1024 * 1024;
      const chunk = randomBytes(1024 * 1024);
      const hash = createHash('sha256');
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < SETTINGS.bigMiB; i++) {
            hash.update(chunk);
            yield chunk;
          }
        })(),
      );
      const up = await peakRss(pids, async () => {
        const t = Date.now();
        const res = await undiciRequest(`${base}/attachments/${id}`, {
          method: 'PUT',
          headers: {
            ...headers,
            'content-type': 'application/octet-stream',
            'content-length': String(size),
          },
          body,
        });
        await res.body.dump();
        if (res.statusCode !== 201) throw new Error(`big upload: ${res.statusCode}`);
        return (SETTINGS.bigMiB / (Date.now() - t)) * 1000;
      });
      const down = await peakRss(pids, async () => {
        const t = Date.now();
        const res = await undiciRequest(`${base}/attachments/${id}`, {
          headers,
          headersTimeout: 300_000,
          bodyTimeout: 300_000,
        });
        if (res.statusCode !== 200)
          throw new Error(`big download: ${res.statusCode} ${await res.body.text()}`);
        const check = createHash('sha256');
        for await (const part of res.body) check.update(part as Buffer);
        if (check.digest('hex') !== hash.digest('hex')) throw new Error('big download differs');
        return (SETTINGS.bigMiB / (Date.now() - t)) * 1000;
      });
      return { up, down };
    };
    for (const [path, base] of [
      ['gateway', stack.urls.gateway],
      ['direct', stack.urls.attachments],
    ] as const) {
      const r = await big(base, `big-${path}`).catch((err: Error) => {
        report.rows.push({
          scenario: `5 ${SETTINGS.bigMiB} MiB`,
          path,
          unit: 'MiB/s',
          rate: 0,
          p50: 0,
          p99: 0,
          errors: 1,
          note: err.message,
        });
        return undefined;
      });
      if (!r) continue;
      const growth = (p: typeof r.up) =>
        Object.fromEntries(
          Object.keys(p.peak).map((k) => [k, Math.round((p.peak[k] ?? 0) - (p.before[k] ?? 0))]),
        );
      report.rows.push({
        scenario: `5 upload ${SETTINGS.bigMiB} MiB`,
        path,
        unit: 'MiB/s',
        rate: r.up.result,
        p50: 0,
        p99: 0,
        errors: 0,
        note: `RSS growth MiB ${JSON.stringify(growth(r.up))}`,
      });
      report.rows.push({
        scenario: `5 download ${SETTINGS.bigMiB} MiB`,
        path,
        unit: 'MiB/s',
        rate: r.down.result,
        p50: 0,
        p99: 0,
        errors: 0,
        note: `RSS growth MiB ${JSON.stringify(growth(r.down))}`,
      });
    }
  },
};
