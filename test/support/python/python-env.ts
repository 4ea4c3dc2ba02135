// The tests' Python interpreter: the venv made by test/support/python/build-env.sh (packages from
// requirements.txt). `make test` builds it first; a test file run alone builds it on demand.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let cached: string | undefined;

/** Path of the venv's python executable, building the venv if it is missing. */
export function pythonPath(): string {
  if (cached === undefined) {
    const out = execFileSync('bash', [join(here, 'build-env.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cached = out.trim().split('\n').pop() ?? '';
  }
  return cached;
}
