// Builds the function-side durable module, the package's `./durable` entry point:
//   build/durable/index.mjs   one ESM file; @opentelemetry/api stays external (a peer dependency:
//                             the function's own copy must be the one its SDK registered with)
//   build/durable/types/      declarations
// It is separate from the extension's bundle, which never includes it.
//   node src/durable/build.mjs [--no-types]

import { spawnSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outDir = join(root, 'build', 'durable');

await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
await esbuild.build({
  entryPoints: [join(here, 'index.ts')],
  outfile: join(outDir, 'index.mjs'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@opentelemetry/api'],
  legalComments: 'eof',
  logLevel: 'warning',
});

if (!process.argv.includes('--no-types')) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(
    process.execPath,
    [
      tsc,
      join(here, 'index.ts'),
      '--declaration',
      '--emitDeclarationOnly',
      '--outDir',
      join(outDir, 'types'),
      '--rootDir',
      here,
      '--module',
      'NodeNext',
      '--moduleResolution',
      'NodeNext',
      '--target',
      'ES2022',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  if (result.status !== 0) process.exit(result.status ?? 1);
}
console.log(`durable module: ${outDir.slice(root.length + 1)}/index.mjs`);
