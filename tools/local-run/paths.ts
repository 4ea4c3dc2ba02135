// Where the local runner finds the package's files. It runs from source (tsx) or as the bundled
// CLI in build/tools/, so paths are found from the package root, not from this module's location.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'otel-lambda-extension';

/** The directory holding this package's package.json, searched upwards from `start`. */
export function findPackageRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME)
          return dir;
      } catch {
        // Not ours (or unreadable): keep looking upwards.
      }
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package above ${start}`);
  }
}

export const PACKAGE_ROOT = findPackageRoot();
/** The unpacked Node.js-runtime layer `make layer` builds: Lambda's /opt for the simulator. */
export const DEFAULT_LAYER_DIR = join(PACKAGE_ROOT, 'build/layer');
export const DEMO_HANDLER = join(PACKAGE_ROOT, 'tools/local-run/demo-orders.mjs');
/** What the launcher in the layer starts; its absence means the layer was not built. */
export const LAYER_LAUNCHER = 'extensions/otel-lambda-extension';
