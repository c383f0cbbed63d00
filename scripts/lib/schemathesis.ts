import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileAsync, log } from './proc.js';
import { ROOT } from './tools.js';

export const SCHEMATHESIS_VERSION = '4.32.5';
const VENV = join(ROOT, '.tools', 'venv');

/** schemathesis from PyPI in a project venv under .tools (made once). */
export async function ensureSchemathesis(): Promise<string> {
  const binary = join(VENV, 'bin', 'schemathesis');
  if (existsSync(binary)) return binary;
  log(`installing schemathesis ${SCHEMATHESIS_VERSION} into .tools/venv`);
  if (!existsSync(join(VENV, 'bin', 'pip'))) await execFileAsync('python3', ['-m', 'venv', VENV]);
  await execFileAsync(
    join(VENV, 'bin', 'pip'),
    ['install', '-q', `schemathesis==${SCHEMATHESIS_VERSION}`],
    {
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return binary;
}
