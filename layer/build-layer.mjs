// Builds the Lambda layer. Run after `node build.mjs` (`make layer` runs both); the bundle is built
// first when it is missing.
//
//   node layer/build-layer.mjs
//       build/layer/: the layer of this machine's architecture unpacked as Lambda unpacks it into /opt
//       (launcher, compiled executable, fallback bundle, config.yaml). The local simulator and the
//       end-to-end tests start the extension from here. The pinned Bun is fetched once into the
//       cache (npm pack); after that no network.
//   node layer/build-layer.mjs --flavour nodejs
//       build/layer/ as the Node.js-runtime flavour instead (no executable); with --zip too, one
//       flavour given is also the unpacked one.
//   node layer/build-layer.mjs --zip
//       also dist/otel-lambda-extension-x86_64.zip and -arm64.zip (every runtime: the compiled
//       executable), dist/otel-lambda-extension-nodejs.zip (Node.js runtimes, any architecture), and
//       dist/sizes.json.
//   Options: --layer-dir DIR (instead of build/layer); with --zip: --flavour x86_64,arm64,nodejs
//   (a subset), --out DIR (instead of dist).
//
// Every zip is read back and checked (entries, modes, CRC-32, the executable's ELF header) before
// its size is reported.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  EXTENSION_NAME,
  LAYER_FLAVOURS,
  LAYER_PATHS,
  layerEntries,
  REPO_ROOT,
  readLayerSources,
  writeLayerDir,
  zipFileName,
} from './layer-files.mjs';
import { hasFixedTimestamp, readZip, readZipEntry, writeZip } from './layer-zip.mjs';
import { BUN_BINARIES, BUN_VERSION, hostArchitecture } from './bun-binaries.mjs';
import { buildExecutable } from './build-executable.mjs';
import { checkElfIdentity } from './executable-checks.mjs';

/** Node.js-runtime flavour target; above it the build warns. */
const NODEJS_ZIP_TARGET = 1024 * 1024;
/** Our own bound for an architecture flavour, unzipped: room for the function and its other layers. */
const EXECUTABLE_UNZIPPED_TARGET = 120 * 1024 * 1024;
/** Lambda's limit for a layer zip uploaded directly (larger ones go through S3). */
const DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024;
/** Lambda's limit for a function and all its layers, unzipped. */
const UNZIPPED_LIMIT = 250 * 1024 * 1024;

const USAGE =
  'usage: node layer/build-layer.mjs [--layer-dir DIR] [--flavour FLAVOUR] [--zip [--flavour x86_64,arm64,nodejs] [--out DIR]]';

let args;
try {
  args = parseArgs({
    options: {
      zip: { type: 'boolean', default: false },
      'layer-dir': { type: 'string' },
      flavour: { type: 'string', multiple: true },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (err) {
  console.error(`layer: ${err instanceof Error ? err.message : err}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const ALL_FLAVOURS = Object.keys(LAYER_FLAVOURS);
const flavours = (args.flavour ?? ALL_FLAVOURS).flatMap((f) => f.split(',')).filter((f) => f !== '');
for (const flavour of flavours) {
  if (!ALL_FLAVOURS.includes(flavour)) {
    console.error(`layer: unknown flavour "${flavour}" (expected ${ALL_FLAVOURS.join(', ')})\n${USAGE}`);
    process.exit(2);
  }
}
if (!args.zip && (args.out || (args.flavour !== undefined && flavours.length !== 1))) {
  console.error(`layer: --out and several flavours apply to --zip only\n${USAGE}`);
  process.exit(2);
}
// The unpacked layer: the flavour asked for when one is, else this machine's architecture (the
// Node.js-runtime flavour where no pinned Bun runs).
const dirFlavour =
  (args.flavour !== undefined && flavours.length === 1 && flavours[0]) || hostArchitecture() || 'nodejs';

const show = (path) => relative(process.cwd(), path) || '.';

try {
  if (!existsSync(join(REPO_ROOT, 'build', EXTENSION_NAME, 'index.mjs'))) {
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'build.mjs')], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('bundling failed');
  }
  const sources = await readLayerSources();
  if (sources.config === undefined) console.warn('layer: warning: layer/config.yaml is missing; not shipped');

  const executables = new Map();
  const executableFor = async (flavour) => {
    const arch = LAYER_FLAVOURS[flavour].executable;
    if (arch === undefined) return undefined;
    if (!executables.has(arch)) {
      executables.set(arch, (await buildExecutable(arch, { log: (l) => console.error(l) })).bytes);
    }
    return executables.get(arch);
  };

  const layerDir = resolve(args['layer-dir'] ?? join(REPO_ROOT, 'build', 'layer'));
  const executable = await executableFor(dirFlavour);
  await writeLayerDir(layerDir, layerEntries({ ...sources, executable }));
  console.log(
    `layer: ${show(layerDir)}/ (${dirFlavour}: ${LAYER_PATHS.launcher}` +
      `${executable ? `, ${LAYER_PATHS.executable} ${mib(executable.length)}` : ''}` +
      `, ${LAYER_PATHS.bundle} ${kib(sources.bundle.length)}${sources.config ? `, ${LAYER_PATHS.config}` : ''})`,
  );

  if (args.zip) await buildZips(sources, executableFor);
} catch (err) {
  console.error(`layer: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

async function buildZips(sources, executableFor) {
  const outDir = resolve(args.out ?? join(REPO_ROOT, 'dist'));
  const zips = [];
  const bunArches = [];
  for (const flavour of ALL_FLAVOURS.filter((f) => flavours.includes(f))) {
    const spec = LAYER_FLAVOURS[flavour];
    const executable = await executableFor(flavour);
    if (spec.executable !== undefined) bunArches.push(spec.executable);
    const entries = layerEntries({ ...sources, executable });
    const file = join(outDir, zipFileName(flavour));
    const written = await writeZip(file, entries);
    const verified = await verifyZip(file, entries, spec.executable);
    zips.push({
      file: zipFileName(flavour),
      flavour,
      architectures: spec.architectures,
      runtimes: spec.runtimes,
      zipBytes: written.bytes,
      unpackedBytes: verified.unpackedBytes,
      sha256: written.sha256,
      entries: verified.entries,
    });
  }

  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));
  const sizes = {
    version: pkg.version,
    // What the executables are compiled with (their base is Bun's own executable for the architecture).
    bun: {
      version: BUN_VERSION,
      packages: Object.fromEntries(bunArches.map((a) => [a, `${BUN_BINARIES[a].npmPackage}@${BUN_VERSION}`])),
    },
    zips,
  };
  await writeFile(join(outDir, 'sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`);

  printTable(zips);
  console.log(`sizes: ${show(join(outDir, 'sizes.json'))}`);
  for (const z of zips) {
    if (z.flavour === 'nodejs' && z.zipBytes > NODEJS_ZIP_TARGET) {
      console.warn(`layer: warning: ${z.file} is ${mib(z.zipBytes)}, above the 1 MiB target`);
    }
    if (z.zipBytes > DIRECT_UPLOAD_LIMIT) {
      console.warn(
        `layer: warning: ${z.file} is above Lambda's 50 MiB direct upload limit; publish it through S3`,
      );
    }
    if (z.unpackedBytes > EXECUTABLE_UNZIPPED_TARGET) {
      console.warn(`layer: warning: ${z.file} unpacks to ${mib(z.unpackedBytes)}, above the 120 MiB target`);
    } else if (z.unpackedBytes > UNZIPPED_LIMIT / 2) {
      console.warn(`layer: warning: ${z.file} unpacks to ${mib(z.unpackedBytes)} of Lambda's 250 MiB`);
    }
  }
}

/** Reads a written zip back and checks it holds exactly the entries, with their modes and content. */
async function verifyZip(file, entries, executableArch) {
  const bytes = await readFile(file);
  const stored = readZip(bytes);
  const expected = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  if (stored.map((e) => e.name).join('\n') !== expected.map((e) => e.name).join('\n')) {
    throw new Error(
      `${file} holds ${stored.map((e) => e.name).join(', ')}, expected ${expected.map((e) => e.name)}`,
    );
  }
  let unpackedBytes = 0;
  const report = [];
  for (const [i, entry] of stored.entries()) {
    const want = /** @type {{name: string, data: Buffer, mode: number}} */ (expected[i]);
    if (entry.mode !== (0o100000 | want.mode) || entry.madeBy !== 3 || !hasFixedTimestamp(entry)) {
      throw new Error(`${file}: ${entry.name} has mode ${entry.mode.toString(8)} or a varying timestamp`);
    }
    const data = readZipEntry(bytes, entry);
    if (!data.equals(want.data)) throw new Error(`${file}: ${entry.name} content differs from its source`);
    if (entry.name === LAYER_PATHS.executable) {
      if (executableArch === undefined) throw new Error(`${file} must not hold an executable`);
      checkElfIdentity(executableArch, data);
    }
    unpackedBytes += entry.size;
    report.push({
      name: entry.name,
      mode: (entry.mode & 0o777).toString(8).padStart(4, '0'),
      bytes: entry.size,
    });
  }
  return { unpackedBytes, entries: report };
}

function printTable(zips) {
  const rows = [
    ['layer zip', 'zipped', 'unpacked', 'files'],
    ...zips.map((z) => [z.file, mib(z.zipBytes), mib(z.unpackedBytes), String(z.entries.length)]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const row of rows) {
    console.log(
      row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '),
    );
  }
}

function kib(n) {
  return `${(n / 1024).toFixed(1)} KiB`;
}

function mib(n) {
  return n < 1024 * 1024 ? kib(n) : `${(n / 1048576).toFixed(1)} MiB`;
}
