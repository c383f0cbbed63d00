import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { type LoadResult, quantile } from './measure.js';

export interface Row {
  scenario: string;
  path: string;
  unit: string;
  rate: number;
  p50: number;
  p99: number;
  /** The raw baseline doing the same store work (the "vs raw" column); absent otherwise. */
  baseline?: number;
  errors: number;
  note?: string;
  /** Rounds of a figure measured several times: how many, and the lowest and highest rate. */
  rounds?: { n: number; min: number; max: number };
  /** From the recorded latencies where the bench has them all (in-process driver). */
  p95?: number;
  max?: number;
}

/** The rows and extra figures of one `make bench` run, printed as one table and saved. */
export function createReport() {
  const rows: Row[] = [];
  const extras: Record<string, unknown> = {};

  function record(
    scenario: string,
    path: string,
    unit: string,
    r: LoadResult,
    baseline?: number,
    note?: string,
    perReq = 1,
  ) {
    const lat = r.latencies;
    rows.push({
      scenario,
      path,
      unit,
      rate: r.requestsPerSec * perReq,
      p50: r.p50,
      p99: r.p99,
      ...(baseline !== undefined ? { baseline } : {}),
      errors: r.errors + r.non2xx,
      ...(note ? { note } : {}),
      ...(r.rounds && r.rounds.length > 1
        ? {
            rounds: {
              n: r.rounds.length,
              min: Math.min(...r.rounds) * perReq,
              max: Math.max(...r.rounds) * perReq,
            },
          }
        : {}),
      ...(lat && lat.length > 0 ? { p95: quantile(lat, 0.95), max: lat[lat.length - 1] } : {}),
    });
    process.stderr.write(
      `  ${scenario} ${path}: ${(r.requestsPerSec * perReq).toFixed(0)} ${unit} p50 ${r.p50} ms p99 ${r.p99} ms${r.errors + r.non2xx ? ` errors ${r.errors + r.non2xx}` : ''}\n`,
    );
  }

  /** A scenario that threw: one row saying so, and the run goes on. */
  function failed(scenario: string, err: Error) {
    process.stderr.write(`  ${scenario} failed: ${err.message}\n`);
    rows.push({
      scenario,
      path: '-',
      unit: '-',
      rate: 0,
      p50: 0,
      p99: 0,
      errors: 1,
      note: err.message.slice(0, 120),
    });
  }

  /** The table, with each figure's ratio to its raw baseline (and gateway vs direct/nginx). */
  function table(): { text: string; ratios: Record<string, string> } {
    const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));
    const lines = [
      '| scenario | path | rate (median) | min–max of rounds | unit | p50 ms | p99 ms | vs raw | errors | note |',
      '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |',
      ...rows.map(
        (r) =>
          `| ${r.scenario} | ${r.path} | ${fmt(r.rate)} | ${r.rounds ? `${fmt(r.rounds.min)}–${fmt(r.rounds.max)} (${r.rounds.n})` : ''} | ${r.unit} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.baseline ? `${((r.rate / r.baseline) * 100).toFixed(0)}%` : ''} | ${r.errors} | ${r.note ?? ''} |`,
      ),
    ];
    const ratios: Record<string, string> = {};
    for (const scenario of new Set(rows.map((r) => r.scenario))) {
      const g = rows.find((r) => r.scenario === scenario && r.path === 'gateway');
      const d = rows.find((r) => r.scenario === scenario && r.path === 'direct');
      const n = rows.find((r) => r.scenario === scenario && r.path === 'nginx');
      // At one connection the rate is the inverse of the mean latency: the difference is what
      // a hop adds.
      const added = (a: Row, b: Row) =>
        scenario.endsWith('1 conn')
          ? `, +${(1000 / a.rate - 1000 / b.rate).toFixed(2)} ms mean`
          : '';
      if (g && d)
        ratios[`${scenario}: gateway/direct`] =
          `${((g.rate / d.rate) * 100).toFixed(0)}% throughput, +${(g.p50 - d.p50).toFixed(2)} ms p50, +${(g.p99 - d.p99).toFixed(2)} ms p99${added(g, d)}`;
      if (g && n)
        ratios[`${scenario}: gateway/nginx`] =
          `${((g.rate / n.rate) * 100).toFixed(0)}% throughput${added(g, n)}`;
      // The references: what nginx, and the least a Node.js proxy does, add on their own.
      for (const ref of ['nginx', 'node proxy']) {
        const r = rows.find((x) => x.scenario === scenario && x.path === ref);
        if (r && d && scenario.endsWith('1 conn'))
          ratios[`${scenario}: ${ref}/direct`] =
            `${((r.rate / d.rate) * 100).toFixed(0)}% throughput${added(r, d)}`;
      }
    }
    const text = `${lines.join('\n')}\n\n${Object.entries(ratios)
      .map(([k, v]) => `- ${k}: ${v}`)
      .join('\n')}\n`;
    return { text, ratios };
  }

  /**
   * Prints the table and writes bench/results/<date>.json with the settings it ran with and the
   * commit it measured (never deleted: bench/results/README.md).
   */
  async function finish(
    started: number,
    durationSec: number,
    settings: Record<string, unknown>,
  ): Promise<void> {
    const { text, ratios } = table();
    process.stdout.write(`\n${text}\n${JSON.stringify(extras)}\n`);
    const date = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = join(import.meta.dirname, '..', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, `${date}.json`),
      JSON.stringify(
        {
          date,
          machine: {
            cpus: cpus().length,
            cpu: cpus()[0]?.model,
            memGiB: Math.round(totalmem() / 2 ** 30),
            node: process.version,
          },
          durationSec,
          settings,
          commit: gitState(),
          rows,
          ratios,
          extras,
          elapsedSec: Math.round((Date.now() - started) / 1000),
        },
        null,
        2,
      ),
    );
  }

  return { rows, extras, record, failed, finish };
}

export type Report = ReturnType<typeof createReport>;

/** The commit measured, and the files that differed from it (other work in the tree). */
function gitState(): { head: string; changed: string[] } {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8' });
  try {
    return {
      head: git('rev-parse', 'HEAD').trim(),
      changed: git('status', '--porcelain', '--untracked-files=no')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.slice(3)),
    };
  } catch {
    return { head: 'unknown', changed: [] };
  }
}
