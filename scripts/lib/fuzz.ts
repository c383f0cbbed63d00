import { spawn } from 'node:child_process';
import { ensureSchemathesis } from './schemathesis.js';
import { NO_RATE_LIMITS } from './stack.js';

/**
 * The stack's environment for fuzzing: no rate limits in the way, and a (fake) Qiniu
 * configuration so the storage calls answer instead of 503 `storage_not_configured`.
 */
export const FUZZ_ENV: Record<string, string> = {
  ...NO_RATE_LIMITS,
  QINIU_ACCESS_KEY: 'fuzz-ak',
  QINIU_SECRET_KEY: 'fuzz-sk',
  QINIU_BUCKET_NAME: 'fuzz',
  QINIU_UPLOAD_DOMAIN: 'upload.example.com',
  QINIU_DOWNLOAD_BASE_URL: 'cdn.example.com',
};

export interface FuzzResult {
  exitCode: number;
  /** Test cases (requests) schemathesis generated and sent. */
  requests: number;
  output: string;
}

/**
 * Runs schemathesis against the gateway's OpenAPI document with a bearer token: every
 * operation, checks for 5xx responses and for responses that don't match the documented schema.
 */
export async function runSchemathesis(options: {
  gateway: string;
  token: string;
  maxExamples: number;
  maxTimeSec?: number;
  workers?: number;
  print?: boolean;
  /** Replays the run a failure report names (its `Seed:` line); FUZZ_SEED when not given. */
  seed?: string;
}): Promise<FuzzResult> {
  const seed = options.seed ?? process.env.FUZZ_SEED;
  const binary = await ensureSchemathesis();
  const args = [
    'run',
    `${options.gateway}/openapi.json`,
    '--header',
    `Authorization: Bearer ${options.token}`,
    '--checks',
    'not_a_server_error,response_schema_conformance,content_type_conformance',
    '--max-examples',
    String(options.maxExamples),
    // One worker: CPython 3.11's AST module is not thread-safe under schemathesis' coverage phase.
    '--workers',
    String(options.workers ?? 1),
    // Logging out would end the session every other operation is fuzzed with.
    '--exclude-operation-id',
    'logout',
    '--request-timeout',
    '40',
    '--phases',
    'examples,coverage,fuzzing',
    '--suppress-health-check',
    'all',
    '--no-color',
    ...(options.maxTimeSec ? ['--max-time', String(options.maxTimeSec)] : []),
    ...(seed ? ['--seed', seed] : []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    let output = '';
    const collect = (d: Buffer) => {
      output += d.toString();
      if (options.print) process.stdout.write(d);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('exit', (code) => {
      // The summary names the number of generated test cases, e.g. "1234 generated" / "Test cases: 1234".
      const matches = [...output.matchAll(/(\d[\d,]*)\s+(?:test cases?\s+)?generated/gi)].map((m) =>
        Number((m[1] ?? '0').replace(/,/g, '')),
      );
      resolve({ exitCode: code ?? 1, requests: matches.length ? Math.max(...matches) : 0, output });
    });
  });
}
