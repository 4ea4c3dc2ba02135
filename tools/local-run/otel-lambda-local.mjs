#!/usr/bin/env node
// The `otel-lambda-local` command. Runs the bundled CLI (build/cli/otel-lambda-local.mjs, made by
// `node tools/local-run/build-cli.mjs`) with plain node when it exists and is not older
// than the runner's and the simulator's sources; otherwise the TypeScript source through tsx.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../../build/cli/otel-lambda-local.mjs', import.meta.url));
/** The runner's and the simulator's sources: a checkout edits them, the bundle then lags. */
const sourceDirs = ['.', '..'].map((d) => fileURLToPath(new URL(`${d}/`, import.meta.url)));

function bundleIsCurrent() {
  if (!existsSync(bundle)) return false;
  const builtMs = statSync(bundle).mtimeMs;
  return sourceDirs.every((dir) =>
    readdirSync(dir)
      .filter((name) => name.endsWith('.ts'))
      .every((name) => statSync(dir + name).mtimeMs <= builtMs),
  );
}

if (bundleIsCurrent()) {
  await import(new URL('../../build/cli/otel-lambda-local.mjs', import.meta.url).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('./cli.ts', import.meta.url).href);
}
