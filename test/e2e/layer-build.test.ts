// `node layer/build-layer.mjs` as `make layer` and a release run it: the unpacked layer directory,
// the Node.js-runtime zip (small, no executable, same bytes on every build), dist/sizes.json
// agreeing with the zips on disk, and the unpacked zip starting the extension in the simulator.
// No network: the architecture zips (with the compiled executable) are covered by layer-launcher.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EXTENSION_NAME, LAYER_PATHS, REPO_ROOT, zipFileName } from '../../layer/layer-files.mjs';
import { readZip, unpackZip } from '../../layer/layer-zip.mjs';
import { LambdaSimulator } from '../../tools/simulator/index.js';

const work = mkdtempSync(join(tmpdir(), 'layer-build-'));
after(() => rmSync(work, { recursive: true, force: true }));

function buildLayer(...args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'layer/build-layer.mjs'), ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Sizes {
  version: string;
  zips: {
    file: string;
    flavour: string;
    architectures: string[];
    runtimes: string[] | 'all';
    zipBytes: number;
    unpackedBytes: number;
    sha256: string;
    entries: { name: string; mode: string; bytes: number }[];
  }[];
}

const layerDir = join(work, 'layer');
const dist = join(work, 'dist');
const first = buildLayer('--layer-dir', layerDir, '--zip', '--flavour', 'nodejs', '--out', dist);
const zipPath = join(dist, zipFileName('nodejs'));

/** The bundle's lazily loaded parts, shipped next to index.mjs. */
const chunkNames = readdirSync(join(REPO_ROOT, 'build', EXTENSION_NAME)).filter((f) =>
  /^chunk-.*\.mjs$/.test(f),
);

test('the build succeeds and prints the size table', () => {
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /layer zip\s+zipped\s+unpacked\s+files\n/);
  // launcher, index.mjs, config.yaml and the chunks
  const files = 3 + chunkNames.length;
  assert.match(
    first.stdout,
    new RegExp(`otel-lambda-extension-nodejs\\.zip\\s+\\d+\\.\\d KiB\\s+\\d+\\.\\d KiB\\s+${files}\\n`),
  );
});

test('the layer ships every chunk of the bundle next to its entry', () => {
  assert.ok(chunkNames.length > 0, 'the build splits lazily loaded code into chunks');
  for (const name of chunkNames) {
    assert.ok(
      readFileSync(join(layerDir, EXTENSION_NAME, name)).equals(
        readFileSync(join(REPO_ROOT, 'build', EXTENSION_NAME, name)),
      ),
      name,
    );
  }
});

test('the unpacked layer holds the launcher (executable), the bundle and the config as built', () => {
  const launcher = join(layerDir, LAYER_PATHS.launcher);
  assert.equal(statSync(launcher).mode & 0o777, 0o755);
  assert.ok(readFileSync(launcher).equals(readFileSync(join(REPO_ROOT, 'layer/launcher.sh'))));
  assert.ok(
    readFileSync(join(layerDir, LAYER_PATHS.bundle)).equals(
      readFileSync(join(REPO_ROOT, 'build', EXTENSION_NAME, 'index.mjs')),
    ),
  );
  const config = join(REPO_ROOT, 'layer/config.yaml');
  assert.equal(existsSync(join(layerDir, LAYER_PATHS.config)), existsSync(config));
  if (existsSync(config))
    assert.ok(readFileSync(join(layerDir, LAYER_PATHS.config)).equals(readFileSync(config)));
  // One flavour asked for is also the unpacked one: the Node.js-runtime flavour has no executable.
  assert.equal(existsSync(join(layerDir, LAYER_PATHS.executable)), false);
});

test('the Node.js-runtime zip is small, has no executable, and sizes.json matches it', () => {
  const bytes = readFileSync(zipPath);
  assert.ok(bytes.length < 1024 * 1024, `${bytes.length} bytes`);
  const sizes = JSON.parse(readFileSync(join(dist, 'sizes.json'), 'utf8')) as Sizes;
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(sizes.version, pkg.version);
  assert.equal(sizes.zips.length, 1);
  const [entry] = sizes.zips;
  assert.ok(entry);
  assert.equal(entry.file, zipFileName('nodejs'));
  assert.deepEqual(entry.architectures, ['x86_64', 'arm64']);
  assert.equal(entry.zipBytes, bytes.length);
  assert.equal(entry.sha256, createHash('sha256').update(bytes).digest('hex'));
  const stored = readZip(bytes);
  assert.deepEqual(
    entry.entries,
    stored.map((e) => ({ name: e.name, mode: (e.mode & 0o777).toString(8).padStart(4, '0'), bytes: e.size })),
  );
  assert.equal(
    entry.unpackedBytes,
    stored.reduce((sum, e) => sum + e.size, 0),
  );
  assert.ok(!stored.some((e) => e.name === LAYER_PATHS.executable));
  assert.equal(stored.find((e) => e.name === LAYER_PATHS.launcher)?.mode, 0o100755);
});

test('building again gives the same bytes', () => {
  const again = join(work, 'again');
  const second = buildLayer(
    '--layer-dir',
    join(work, 'layer2'),
    '--zip',
    '--flavour',
    'nodejs',
    '--out',
    again,
  );
  assert.equal(second.status, 0, second.stderr);
  assert.ok(readFileSync(join(again, zipFileName('nodejs'))).equals(readFileSync(zipPath)));
});

test('the unpacked Node.js-runtime zip starts the extension with the node on PATH', async () => {
  const opt = join(work, 'opt');
  await unpackZip(readFileSync(zipPath), opt);
  const sim = new LambdaSimulator({
    optDir: opt,
    handler: join(REPO_ROOT, 'test/fixtures/functions/echo.mjs'),
    unthrottled: true,
    // No runtime node and no shipped one: the simulator's PATH starts with the Node running this.
    env: { LAMBDA_OTEL_RUNTIME_NODE: join(work, 'no-runtime-node') },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success');
    assert.deepEqual(
      sim.timeline
        .of('register')
        .filter((r) => r.name === EXTENSION_NAME)
        .map((r) => r.status),
      [200],
    );
    assert.equal((await sim.invoke({})).status, 'success');
  } finally {
    await sim.close();
  }
});

test('bad options are refused with the usage line', () => {
  for (const args of [
    ['--flavour', 'nodejs,x86_64'],
    ['--out', join(work, 'unused')],
    ['--zip', '--flavour', 'ppc64'],
    ['--frobnicate'],
  ]) {
    const r = buildLayer('--layer-dir', join(work, 'unused'), ...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /usage: node layer\/build-layer\.mjs/);
  }
  assert.equal(existsSync(join(work, 'unused')), false, 'nothing is built on bad options');
});
