// What goes into the layer, laid out as Lambda unpacks it into /opt:
//   extensions/otel-lambda-extension     the launcher (Lambda starts every file in /opt/extensions)
//   otel-lambda-extension/bin/otel-lambda-extension   the compiled executable (architecture flavours)
//   otel-lambda-extension/index.mjs      the bundle's entry (Node: the nodejs flavour, and the
//                                        architecture flavours' fallback)
//   otel-lambda-extension/chunk-*.mjs    parts of the bundle loaded on first use
//   otel-lambda-extension/config.yaml    the commented default configuration

import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXTENSION_NAME = 'otel-lambda-extension';
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The flavours: one per architecture for every runtime (the compiled executable, the default), and a
 * small one for Node.js runtimes (any architecture) that runs the bundle on the function's Node.
 */
export const LAYER_FLAVOURS = Object.freeze({
  x86_64: Object.freeze({ architectures: ['x86_64'], runtimes: 'all', executable: 'x86_64' }),
  arm64: Object.freeze({ architectures: ['arm64'], runtimes: 'all', executable: 'arm64' }),
  nodejs: Object.freeze({
    architectures: ['x86_64', 'arm64'],
    runtimes: ['nodejs20.x', 'nodejs22.x', 'nodejs24.x'],
    executable: undefined,
  }),
});

export const LAYER_PATHS = Object.freeze({
  launcher: `extensions/${EXTENSION_NAME}`,
  bundle: `${EXTENSION_NAME}/index.mjs`,
  config: `${EXTENSION_NAME}/config.yaml`,
  executable: `${EXTENSION_NAME}/bin/${EXTENSION_NAME}`,
});

export function zipFileName(flavour) {
  if (!Object.hasOwn(LAYER_FLAVOURS, flavour)) throw new Error(`unknown layer flavour "${flavour}"`);
  return `${EXTENSION_NAME}-${flavour}.zip`;
}

/** The launcher, the bundle and (when present) the default configuration from the repository. */
export async function readLayerSources(root = REPO_ROOT) {
  const bundlePath = join(root, 'build', EXTENSION_NAME, 'index.mjs');
  const bundle = await readFile(bundlePath).catch(() => {
    throw new Error(`layer: ${bundlePath} is missing; run node build.mjs first`);
  });
  const buildDir = dirname(bundlePath);
  const chunkNames = (await readdir(buildDir)).filter((f) => /^chunk-[\w-]+\.mjs$/.test(f)).sort();
  const chunks = [];
  for (const name of chunkNames) chunks.push({ name, data: await readFile(join(buildDir, name)) });
  return {
    launcher: await readFile(join(root, 'layer', 'launcher.sh')),
    bundle,
    chunks,
    config: await readFile(join(root, 'layer', 'config.yaml')).catch(() => undefined),
  };
}

/** The layer's files ({ name, data, mode }); the compiled executable only when one is given. */
export function layerEntries({ launcher, bundle, chunks = [], config, executable }) {
  const entries = [
    { name: LAYER_PATHS.launcher, data: launcher, mode: 0o755 },
    { name: LAYER_PATHS.bundle, data: bundle, mode: 0o644 },
  ];
  for (const chunk of chunks)
    entries.push({ name: `${EXTENSION_NAME}/${chunk.name}`, data: chunk.data, mode: 0o644 });
  if (config !== undefined) entries.push({ name: LAYER_PATHS.config, data: config, mode: 0o644 });
  if (executable !== undefined) entries.push({ name: LAYER_PATHS.executable, data: executable, mode: 0o755 });
  return entries;
}

/** Writes the entries as an unpacked layer directory, replacing whatever `dir` held. */
export async function writeLayerDir(dir, entries) {
  const root = resolve(dir);
  await rm(root, { recursive: true, force: true });
  for (const { name, data, mode } of entries) {
    const path = resolve(root, name);
    if (!path.startsWith(root + sep)) throw new Error(`layer entry ${name} points outside ${dir}`);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    await chmod(path, mode); // explicit: writeFile's mode is filtered by the umask
  }
}
