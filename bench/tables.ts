/**
 * `npx tsx bench/tables.ts <result file> [--only <text>]`: the Markdown tables of one `make
 * bench` run, as docs/performance.md shows them (every table there comes from one file):
 * - the hint tables: each sync call with its hint in Redis and with the hint deleted before each
 *   request, side by side per path, each beside the raw work of that path and its ratio, with
 *   how sync counted the requests;
 * - every other row as the run printed it, grouped by scenario number.
 * Rates are the median round; `min–max (n)` gives the spread of the n rounds.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Row } from './lib/report.js';

const HINT = ', hint in Redis';
const COLD = ', hint deleted (store)';

const fmt = (n: number) =>
  n >= 100 ? Math.round(n).toLocaleString('en') : n >= 10 ? n.toFixed(1) : n.toFixed(2);
const spread = (r: Row) =>
  r.rounds ? `${fmt(r.rounds.min)}–${fmt(r.rounds.max)} (${r.rounds.n})` : '';
const ratio = (r: Row) => (r.baseline ? `${Math.round((r.rate / r.baseline) * 100)}%` : '–');
const mean = (r: Row) => /mean ([\d.]+) ms/.exec(r.note ?? '')?.[1] ?? '';
const counted = (r: Row) =>
  (r.note ?? '').replace(/^mean [\d.]+ ms;?\s*/, '').replace(/^sync counted /, '');

/** One side-by-side table per hint case label (the rows of bench/lib/hint.ts). */
export function hintTables(rows: Row[], only?: string): string {
  const labels = [
    ...new Set(
      rows
        .filter((r) => r.scenario.endsWith(HINT) && (!only || r.scenario.includes(only)))
        .map((r) => r.scenario.slice(0, -HINT.length)),
    ),
  ];
  const out: string[] = [];
  for (const label of labels) {
    const hint = rows.filter((r) => r.scenario === label + HINT);
    const cold = rows.filter((r) => r.scenario === label + COLD);
    const unit = hint[0]?.unit ?? '';
    out.push(
      `**${label}** (${unit}, one connection; mean latency in ms)`,
      '',
      '| answered | path | rate | rounds min–max | mean ms | p99 ms | vs raw | errors | how sync counted the requests |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    );
    for (const [answered, list] of [
      ['hint in Redis', hint],
      ['hint deleted (store)', cold],
    ] as const) {
      for (const r of list) {
        out.push(
          `| ${answered} | ${r.path} | ${fmt(r.rate)} | ${spread(r)} | ${mean(r)} | ${fmt(r.p99)} | ${r.path.startsWith('raw') ? '' : ratio(r)} | ${r.errors} | ${r.path.startsWith('raw') ? '' : counted(r)} |`,
        );
      }
    }
    out.push('');
  }
  return out.join('\n');
}

/** The other rows, as the run printed them, for scenarios whose name contains `only`. */
export function plainTable(rows: Row[], only?: string): string {
  const list = rows.filter(
    (r) =>
      !r.scenario.endsWith(HINT) &&
      !r.scenario.endsWith(COLD) &&
      (!only || r.scenario.includes(only)),
  );
  return [
    '| scenario | path | rate | rounds min–max | unit | p50 ms | p99 ms | vs raw | errors | note |',
    '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |',
    ...list.map(
      (r) =>
        `| ${r.scenario} | ${r.path} | ${fmt(r.rate)} | ${spread(r)} | ${r.unit} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.baseline ? ratio(r) : ''} | ${r.errors} | ${(r.note ?? '').replaceAll('|', '/')} |`,
    ),
    '',
  ].join('\n');
}

if (process.argv[1] && basename(process.argv[1]).startsWith('tables')) {
  const [file, flag, value] = process.argv.slice(2);
  if (!file) throw new Error('usage: npx tsx bench/tables.ts <result file> [--only <text>]');
  const only = flag === '--only' ? value : undefined;
  const result = JSON.parse(await readFile(file, 'utf8')) as { rows: Row[] };
  process.stdout.write(`${hintTables(result.rows, only)}\n${plainTable(result.rows, only)}`);
}
