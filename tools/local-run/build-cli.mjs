// Bundles the local runner's CLI into one ESM file that runs with plain node (no tsx):
// build/cli/otel-lambda-local.mjs.
//   node tools/local-run/build-cli.mjs
//
// The bundle still reads files of the package at run time: the layer (build/layer), the simulator's
// Node runtime (tools/simulator/runtime.mjs) and the .proto files under proto/ that the
// embedded sink decodes with. The runner finds the first two from the package root; the decoder
// resolves proto/ two directories above its module, which build/cli/ also is.

import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const outFile = join(root, 'build/cli/otel-lambda-local.mjs');

await esbuild.build({
  entryPoints: [join(root, 'tools/local-run/cli.ts')],
  outfile: outFile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __cliCreateRequire } from 'node:module'; const require = __cliCreateRequire(import.meta.url);",
  },
});

const { size } = await stat(outFile);
console.log(`cli: ${outFile.slice(root.length + 1)} ${(size / 1024).toFixed(1)} KiB`);
