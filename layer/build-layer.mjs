// Builds the Lambda layer. Run after `node build.mjs` (`make layer` runs both); the bundle is built
// first when it is missing.
//
//   node layer/build-layer.mjs
//       build/layer/: the unpacked Node.js-runtime layer (launcher, bundle, config.yaml), as Lambda
//       unpacks it into /opt. The local simulator starts the extension from here. No network.
//   node layer/build-layer.mjs --zip
//       also dist/otel-lambda-extension-nodejs.zip (Node.js runtimes, any architecture),
//       dist/otel-lambda-extension-x86_64.zip and -arm64.zip (every runtime: with a Node executable),
//       and dist/sizes.json. The Node executables are fetched once into the cache (npm pack).
//   Options: --layer-dir DIR (instead of build/layer), and with --zip: --flavour nodejs,x86_64,arm64
//   (a subset), --out DIR (instead of dist), --node-cache DIR (instead of .cache/node-binaries).
//
// Every zip is read back and checked (entries, modes, CRC-32, the Node executable's ELF header) before
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
import {
  checkElfIdentity,
  DEFAULT_NODE_CACHE,
  elfVersionNeeds,
  fetchNodeBinary,
  highestSymbolVersions,
  NODE_BINARIES,
  NODE_VERSION,
} from './node-binaries.mjs';

/** Node.js-runtime flavour target; above it the build warns. */
const NODEJS_ZIP_TARGET = 1024 * 1024;
/** Lambda's limit for a layer zip uploaded directly (larger ones go through S3). */
const DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024;
/** Lambda's limit for a function and all its layers, unzipped. */
const UNZIPPED_LIMIT = 250 * 1024 * 1024;

const USAGE =
  'usage: node layer/build-layer.mjs [--layer-dir DIR] [--zip [--flavour nodejs,x86_64,arm64] [--out DIR] [--node-cache DIR]]';

let args;
try {
  args = parseArgs({
    options: {
      zip: { type: 'boolean', default: false },
      'layer-dir': { type: 'string' },
      flavour: { type: 'string', multiple: true },
      out: { type: 'string' },
      'node-cache': { type: 'string' },
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
if (!args.zip && (args.flavour || args.out || args['node-cache'])) {
  console.error(`layer: --flavour, --out and --node-cache apply to --zip only\n${USAGE}`);
  process.exit(2);
}

const show = (path) => relative(process.cwd(), path) || '.';

try {
  if (!existsSync(join(REPO_ROOT, 'build', EXTENSION_NAME, 'index.mjs'))) {
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'build.mjs')], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('bundling failed');
  }
  const sources = await readLayerSources();
  if (sources.config === undefined) console.warn('layer: warning: layer/config.yaml is missing; not shipped');

  const layerDir = resolve(args['layer-dir'] ?? join(REPO_ROOT, 'build', 'layer'));
  await writeLayerDir(layerDir, layerEntries(sources));
  console.log(
    `layer: ${show(layerDir)}/ (${LAYER_PATHS.launcher}, ${LAYER_PATHS.bundle} ${kib(sources.bundle.length)}` +
      `${sources.config ? `, ${LAYER_PATHS.config}` : ''})`,
  );

  if (args.zip) await buildZips(sources);
} catch (err) {
  console.error(`layer: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

async function buildZips(sources) {
  const outDir = resolve(args.out ?? join(REPO_ROOT, 'dist'));
  const cacheRoot = resolve(args['node-cache'] ?? DEFAULT_NODE_CACHE);
  const log = (line) => console.error(line);
  const zips = [];
  const nodeNeeds = {};
  for (const flavour of ALL_FLAVOURS.filter((f) => flavours.includes(f))) {
    const spec = LAYER_FLAVOURS[flavour];
    let nodeBinary;
    if (spec.nodeBinary !== undefined) {
      nodeBinary = (await fetchNodeBinary(spec.nodeBinary, { cacheRoot, log })).bytes;
      nodeNeeds[spec.nodeBinary] = highestSymbolVersions(elfVersionNeeds(nodeBinary));
    }
    const entries = layerEntries({ ...sources, nodeBinary });
    const file = join(outDir, zipFileName(flavour));
    const written = await writeZip(file, entries);
    const verified = await verifyZip(file, entries, spec.nodeBinary);
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
    node: {
      version: NODE_VERSION,
      packages: Object.fromEntries(
        Object.keys(nodeNeeds).map((a) => [a, `${NODE_BINARIES[a].npmPackage}@${NODE_VERSION}`]),
      ),
      // Highest symbol versions the executables need (Amazon Linux 2023 has glibc 2.34, GLIBCXX_3.4.29).
      needs: nodeNeeds,
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
    if (z.unpackedBytes > UNZIPPED_LIMIT / 2) {
      console.warn(`layer: warning: ${z.file} unpacks to ${mib(z.unpackedBytes)} of Lambda's 250 MiB`);
    }
  }
}

/** Reads a written zip back and checks it holds exactly the entries, with their modes and content. */
async function verifyZip(file, entries, nodeArch) {
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
    if (entry.name === LAYER_PATHS.nodeBinary) {
      if (nodeArch === undefined) throw new Error(`${file} must not hold a Node executable`);
      checkElfIdentity(nodeArch, data);
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
