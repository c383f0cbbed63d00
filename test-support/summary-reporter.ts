import { stripVTControlCharacters } from 'node:util';
import type { Reporter, TestModule } from 'vitest/node';

/** How much of each failure's first error the closing list keeps (a CI log's tail is short). */
const MESSAGE_CHARS = 400;

/**
 * Prints, at the very end of a run, every failed test with the first line of its error (a CI
 * that keeps only the tail of the output still says which test failed first and why), then one
 * plain closing line, `N passed, N failed, N skipped`, that any CI can read.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const failures: string[] = [];
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') {
          failed++;
          failures.push(`${mod.moduleId} > ${test.fullName}: ${firstLine(result.errors?.[0])}`);
        } else skipped++;
      }
      if (mod.state() === 'failed' && mod.children.size === 0) {
        failed++;
        failures.push(`${mod.moduleId}: ${firstLine(mod.errors()[0])}`);
      }
    }
    if (failures.length)
      process.stdout.write(`\nFailed:\n${failures.map((f) => `  ${f}\n`).join('')}`);
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

function firstLine(error: { message?: string } | undefined): string {
  const text = stripVTControlCharacters(error?.message ?? 'no error recorded')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > MESSAGE_CHARS ? `${text.slice(0, MESSAGE_CHARS)}…` : text;
}
