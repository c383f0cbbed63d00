/**
 * `npx tsx bench/summarize.ts [files…]`: every row of every `make bench` result file given (by
 * default all of bench/results/*.json, partial runs included), grouped by scenario, path and
 * unit, as one Markdown table: in how many runs the row appears, and the lowest, median and
 * highest rate across those runs (each run's figure is its own median of rounds where it had
 * several), with the files holding the lowest and highest. `--only <text>` keeps the rows whose
 * scenario contains the text; `--since <date>` the files named from that date on (e.g.
 * 2026-12-06). A figure quoted in docs/performance.md can so be read against every other run
 * of the same row (bench/results/README.md: no file is ever deleted).
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

interface Row {
  scenario: string;
  path: string;
  unit: string;
  rate: number;
  errors: number;
}

interface Result {
  date?: string;
  rows?: Row[];
  settings?: { env?: Record<string, string> };
}

/** `--name value` from argv, and the rest as positional arguments. */
function parseArgs(argv: string[]) {
  const options: Record<string, string> = {};
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg.startsWith('--')) {
      options[arg.slice(2)] = argv[i + 1] ?? '';
      i += 1;
    } else files.push(arg);
  }
  return { options, files };
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2));

export function median(sorted: number[]): number {
  if (sorted.length === 0) return 0;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The summary table of `results` (file name → parsed result file). */
export function summarize(results: Map<string, Result>, only?: string): string {
  const groups = new Map<string, { row: Row; runs: { file: string; rate: number }[] }>();
  for (const [file, result] of results) {
    for (const row of result.rows ?? []) {
      // A scenario that threw is one row with no unit: not a figure.
      if (row.unit === '-' || (only && !row.scenario.includes(only))) continue;
      const key = `${row.scenario}\u0000${row.path}\u0000${row.unit}`;
      const group = groups.get(key) ?? { row, runs: [] };
      group.runs.push({ file, rate: row.rate });
      groups.set(key, group);
    }
  }
  const lines = [
    '| scenario | path | unit | runs | min | median | max | lowest in | highest in |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const { row, runs } of groups.values()) {
    const sorted = [...runs].sort((a, b) => a.rate - b.rate);
    const low = sorted[0] as { file: string; rate: number };
    const high = sorted[sorted.length - 1] as { file: string; rate: number };
    lines.push(
      `| ${row.scenario} | ${row.path} | ${row.unit} | ${runs.length} | ${fmt(low.rate)} | ${fmt(median(sorted.map((r) => r.rate)))} | ${fmt(high.rate)} | ${low.file} | ${high.file} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] && basename(process.argv[1]).startsWith('summarize')) {
  const { options, files } = parseArgs(process.argv.slice(2));
  const dir = join(import.meta.dirname, 'results');
  const paths =
    files.length > 0
      ? files
      : (await readdir(dir))
          .filter((f) => f.endsWith('.json') && (!options.since || f >= options.since))
          .sort()
          .map((f) => join(dir, f));
  const results = new Map<string, Result>();
  for (const path of paths) {
    results.set(basename(path), JSON.parse(await readFile(path, 'utf8')) as Result);
  }
  process.stdout.write(`${results.size} result files\n\n${summarize(results, options.only)}`);
}
