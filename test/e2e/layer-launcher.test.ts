// The all-runtimes layer zip for this machine's architecture, built by `node layer/build-layer.mjs
// --zip`, unpacked as Lambda unpacks it into /opt and run in the Lambda simulator:
//   1. Node.js runtimes: the runtime's /var/lang/bin/node (stood in for by LAMBDA_OTEL_RUNTIME_NODE)
//      runs the extension even though the layer ships its own Node;
//   2. other runtimes: the Node shipped in the layer (the pinned release, not the Node running the
//      tests, which is also on PATH) runs it, and the extension registers and follows the lifecycle;
//   3. the other architecture's executable, which cannot run here, is checked by its ELF header.
// The Node executables are fetched into .cache/node-binaries/ on first use (~50 MB each, from the npm
// registry), in before() with a generous timeout; later runs reuse the cache.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXTENSION_NAME, LAYER_PATHS, REPO_ROOT, zipFileName } from '../../layer/layer-files.mjs';
import { readZip, unpackZip } from '../../layer/layer-zip.mjs';
import {
  AL2023_SYMBOL_VERSIONS,
  checkElfIdentity,
  EM_AARCH64,
  EM_X86_64,
  elfVersionNeeds,
  fetchNodeBinary,
  NODE_VERSION,
  readElfHeader,
  symbolVersionsBeyond,
} from '../../layer/node-binaries.mjs';
import { LambdaSimulator } from '../../tools/simulator/index.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const otherArch = hostArch === 'arm64' ? 'x86_64' : 'arm64';
const HANDLER = join(REPO_ROOT, 'test/fixtures/functions/echo.mjs');

const work = realpathSync(mkdtempSync(join(tmpdir(), 'layer-e2e-')));
const opt = join(work, 'opt');
const dist = join(work, 'dist');
let other: Buffer;
let buildOutput = '';

before(
  async () => {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    // A fresh machine fetches both executables here (a few seconds on a good link); cached, ~1 s.
    await fetchNodeBinary(hostArch, { log });
    other = (await fetchNodeBinary(otherArch, { log })).bytes;
    const args = ['--layer-dir', join(work, 'layer'), '--zip', '--flavour', hostArch, '--out', dist];
    const built = spawnSync(process.execPath, [join(REPO_ROOT, 'layer/build-layer.mjs'), ...args], {
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    buildOutput = built.stdout;
    await unpackZip(readFileSync(join(dist, zipFileName(hostArch))), opt);
  },
  { timeout: 15 * 60_000 },
);

after(() => rmSync(work, { recursive: true, force: true }));

/** Runs one cold start, one invocation and a shutdown; returns what the extension process was. */
async function lifecycle(env: Record<string, string>) {
  const sim = new LambdaSimulator({
    optDir: opt,
    handler: HANDLER,
    unthrottled: true,
    env: { LAMBDA_OTEL_LOG_LEVEL: 'debug', ...env },
  });
  try {
    const init = await sim.start();
    assert.equal(init.status, 'success', JSON.stringify(init));
    const pid = sim.pids().extensions[EXTENSION_NAME];
    assert.ok(pid, 'the extension process is alive after init');
    // The launcher execs node, so the extension's pid is the node process itself.
    const exe = readlinkSync(`/proc/${pid}/exe`);
    const registered = sim.timeline.of('register').filter((r) => r.name === EXTENSION_NAME);
    assert.deepEqual(
      registered.map((r) => [r.status, r.events]),
      [[200, ['INVOKE', 'SHUTDOWN']]],
    );
    const invocation = await sim.invoke({ ping: 1 });
    assert.equal(invocation.status, 'success');
    assert.ok(invocation.extensionNextMs[EXTENSION_NAME], 'the extension took part in the invocation');
    const shutdown = await sim.shutdown();
    const ext = shutdown.extensions.find((e) => e.name === EXTENSION_NAME);
    assert.deepEqual([ext?.receivedShutdown, ext?.exitedBeforeDeadline, ext?.exitCode], [true, true, 0]);
    return { exe, logs: sim.extensionLogs.map((l) => l.line) };
  } finally {
    await sim.close();
  }
}

test('the zip unpacks to the launcher, bundle, config and an executable Node', () => {
  const names = readZip(readFileSync(join(dist, zipFileName(hostArch)))).map((e) => e.name);
  assert.ok(names.includes(LAYER_PATHS.nodeBinary) && names.includes(LAYER_PATHS.launcher), names.join());
  assert.equal(statSync(join(opt, LAYER_PATHS.launcher)).mode & 0o777, 0o755);
  assert.equal(statSync(join(opt, LAYER_PATHS.nodeBinary)).mode & 0o777, 0o755);
  const chunks = readdirSync(join(REPO_ROOT, 'build', EXTENSION_NAME)).filter((f) =>
    /^chunk-.*\.mjs$/.test(f),
  );
  for (const chunk of chunks) assert.ok(names.includes(`${EXTENSION_NAME}/${chunk}`), chunk);
  // launcher, index.mjs, config.yaml, node and the bundle's chunks
  assert.match(
    buildOutput,
    new RegExp(`${zipFileName(hostArch)}\\s+\\d+\\.\\d MiB\\s+\\d+\\.\\d MiB\\s+${4 + chunks.length}\\n`),
  );
});

test('on a Node.js runtime the runtime node runs the extension, not the shipped one', async () => {
  // Stands in for /var/lang/bin/node: records how it was started, then becomes the Node running this.
  const record = join(work, 'runtime-node.log');
  const runtimeNode = join(work, 'var-lang-bin-node');
  writeFileSync(
    runtimeNode,
    `#!/bin/sh\necho "$0 $*" >> ${JSON.stringify(record)}\nexec ${JSON.stringify(process.execPath)} "$@"\n`,
  );
  chmodSync(runtimeNode, 0o755);

  const { exe, logs } = await lifecycle({ LAMBDA_OTEL_RUNTIME_NODE: runtimeNode });
  assert.equal(readFileSync(record, 'utf8'), `${runtimeNode} ${join(opt, LAYER_PATHS.bundle)}\n`);
  assert.equal(exe, realpathSync(process.execPath));
  assert.ok(
    logs.includes(
      `[otel-lambda-extension] DEBUG launcher: starting ${join(opt, EXTENSION_NAME)}/index.mjs with ${runtimeNode}`,
    ),
  );
});

test('on other runtimes the Node shipped in the layer runs the extension', async () => {
  const shipped = join(opt, LAYER_PATHS.nodeBinary);
  const { exe, logs } = await lifecycle({ LAMBDA_OTEL_RUNTIME_NODE: join(work, 'no-runtime-node') });
  assert.equal(exe, shipped);
  const version = spawnSync(exe, ['--version'], { encoding: 'utf8' }).stdout.trim();
  assert.equal(version, `v${NODE_VERSION}`);
  assert.notEqual(version, process.version, 'the shipped Node is not the one on PATH');
  assert.ok(
    logs.some((l) => l.endsWith(`with ${shipped}`)),
    logs.join('\n'),
  );
});

test(`the ${otherArch} executable is a 64-bit little-endian ELF for its machine that runs on Amazon Linux 2023`, () => {
  assert.deepEqual(readElfHeader(other), {
    bits: 64,
    endianness: 'little',
    type: 2,
    machine: otherArch === 'arm64' ? EM_AARCH64 : EM_X86_64,
  });
  checkElfIdentity(otherArch, other);
  assert.throws(() => checkElfIdentity(hostArch, other), /expected 64-bit little-endian machine/);
  const needs = elfVersionNeeds(other);
  assert.ok(needs.some((n) => n.file === 'libc.so.6'));
  assert.deepEqual(symbolVersionsBeyond(needs, AL2023_SYMBOL_VERSIONS), []);
});
