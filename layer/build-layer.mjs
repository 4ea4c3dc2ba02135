// Lays out the Lambda layer under build/layer/, exactly as Lambda unpacks it into /opt:
//   extensions/otel-lambda-extension   the launcher (Lambda starts every file in /opt/extensions)
//   otel-lambda-extension/index.mjs    the bundle
// Builds the bundle first when it is missing.
//   node layer/build-layer.mjs

import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = 'otel-lambda-extension';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'build', NAME, 'index.mjs');
const layerDir = join(root, 'build', 'layer');

if (!existsSync(bundle)) {
  const built = spawnSync(process.execPath, [join(root, 'build.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) {
    console.error('layer: bundling failed');
    process.exit(1);
  }
}

await rm(layerDir, { recursive: true, force: true });
await mkdir(join(layerDir, 'extensions'), { recursive: true });
await mkdir(join(layerDir, NAME), { recursive: true });

const launcher = join(layerDir, 'extensions', NAME);
await copyFile(join(root, 'layer', 'launcher.sh'), launcher);
await chmod(launcher, 0o755);
await copyFile(bundle, join(layerDir, NAME, 'index.mjs'));

const { size } = await stat(join(layerDir, NAME, 'index.mjs'));
console.log(
  `layer: ${layerDir.slice(root.length + 1)}/ (extensions/${NAME}, ${NAME}/index.mjs ${(size / 1024).toFixed(1)} KiB)`,
);
