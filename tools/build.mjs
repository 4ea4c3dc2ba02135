// Bundles the two commands into ESM files that run with plain node (no tsx, no TypeScript):
//   build/tools/otel-lambda-sim.mjs     the Lambda simulator's CLI (tools/simulator/cli.ts)
//   build/tools/otel-lambda-local.mjs   the local runner (tools/local-run/cli.ts)
//   node tools/build.mjs
//
// The simulator starts the function with its Node runtime (runtime.mjs) and reaches a network
// namespace through netns-forwarder.mjs, both found next to the module that runs: they are copied
// beside the bundles. At run time the bundles still read the layer (build/layer, found from the
// package root) and the .proto files the OTLP decoder resolves two directories above its module
// (proto/ from build/tools/ as from tools/otlp/).

import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'build/tools');
const commands = {
  'otel-lambda-sim': 'tools/simulator/cli.ts',
  'otel-lambda-local': 'tools/local-run/cli.ts',
};

/** Files are renamed into place, so a command started during a rebuild never reads half a file. */
async function place(file, write) {
  const partial = `${file}.${process.pid}.partial`;
  await write(partial);
  await rename(partial, file);
}

await mkdir(outDir, { recursive: true });
for (const name of ['runtime.mjs', 'netns-forwarder.mjs']) {
  await place(join(outDir, name), (to) => copyFile(join(root, 'tools/simulator', name), to));
}
for (const [name, entry] of Object.entries(commands)) {
  const outFile = join(outDir, `${name}.mjs`);
  const result = await esbuild.build({
    entryPoints: [join(root, entry)],
    outfile: outFile,
    write: false,
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
  const [output] = result.outputFiles;
  await place(outFile, (to) => writeFile(to, output.contents, { mode: 0o755 }));
  console.log(`${name}: ${outFile.slice(root.length + 1)} ${(output.contents.length / 1024).toFixed(1)} KiB`);
}
