// Bundles the extension into build/otel-lambda-extension/index.mjs plus chunks for what start-up
// does not need (the YAML parser, the receiver's protobuf decoding, OTLP response decoding): they are
// only compiled when first imported. No module resolution walk over node_modules at start-up.
//   node build.mjs

import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const outDir = join(root, 'build', 'otel-lambda-extension');
const metaFile = join(root, 'build', 'meta.json');
// One version everywhere (scope, telemetry.distro.version, User-Agent, self-telemetry): package.json's.
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

await rm(outDir, { recursive: true, force: true }); // stale chunks of an earlier build must not ship
await mkdir(outDir, { recursive: true });

/**
 * Static imports of Node built-ins become require() calls. An ESM import of a built-in makes Node build
 * a module facade that reads every export, which runs lazy getters (fs.promises, fs.ReadStream, …) and
 * costs a few ms of start-up; require() returns the module as it is. Dynamic imports stay imports.
 */
const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      args.kind === 'import-statement' && isBuiltin(args.path)
        ? { path: args.path, namespace: 'node-builtin' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

const result = await esbuild.build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outdir: outDir,
  entryNames: 'index',
  chunkNames: 'chunk-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
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
  plugins: [builtinsViaRequire],
  define: { __OTEL_LAMBDA_EXTENSION_VERSION__: JSON.stringify(version) },
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __otelCreateRequire } from 'node:module'; const require = __otelCreateRequire(import.meta.url);",
  },
});

await writeFile(metaFile, JSON.stringify(result.metafile));

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
for (const name of (await readdir(outDir)).filter((f) => f.endsWith('.mjs')).sort()) {
  const file = join(outDir, name);
  const { size } = await stat(file);
  const gzipped = gzipSync(readFileSync(file)).length;
  console.log(`bundle: ${file.slice(root.length + 1)} ${kib(size)} (${size} bytes, gzip ${kib(gzipped)})`);
}
console.log(`metafile: ${metaFile.slice(root.length + 1)}`);
