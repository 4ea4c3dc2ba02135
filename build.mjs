// Bundles the extension into one ESM file: build/otel-lambda-extension/index.mjs.
// One file keeps cold start down (no module resolution walk over node_modules at start-up).
//   node build.mjs

import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const outDir = join(root, 'build', 'otel-lambda-extension');
const outFile = join(outDir, 'index.mjs');
const metaFile = join(root, 'build', 'meta.json');

await mkdir(outDir, { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile: outFile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  // Written next to the bundle for offline debugging; no sourceMappingURL comment, so Node never
  // loads it (the launcher keeps --enable-source-maps off: it costs start-up time).
  sourcemap: 'external',
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __otelCreateRequire } from 'node:module'; const require = __otelCreateRequire(import.meta.url);",
  },
});

await writeFile(metaFile, JSON.stringify(result.metafile));

const { size } = await stat(outFile);
const gzipped = gzipSync(readFileSync(outFile)).length;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`bundle: ${outFile.slice(root.length + 1)} ${kib(size)} (${size} bytes, gzip ${kib(gzipped)})`);
console.log(`metafile: ${metaFile.slice(root.length + 1)}`);
