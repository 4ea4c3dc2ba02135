// The all-runtimes layer zip for this machine's architecture, built by `node layer/build-layer.mjs
// --zip`, unpacked as Lambda unpacks it into /opt and run in the Lambda simulator:
//   1. the compiled executable runs the extension (even where a runtime Node exists), which registers
//      and follows the lifecycle;
//   2. an executable that cannot start — the other architecture's build (exec format error) or one
//      that dies on SIGILL as on a CPU it does not support — makes the launcher say so and start the
//      shipped bundle on the Node it finds, and the function runs as before;
//   3. the other architecture's executable, which cannot run here, is checked by its ELF header.
// The pinned Bun executables are fetched into .cache/bun-binaries/ on first use (~52 MB each, from the
// npm registry), in before() with a generous timeout; later runs reuse the cache.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
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
import { buildExecutable } from '../../layer/build-executable.mjs';
import { EXTENSION_NAME, LAYER_PATHS, REPO_ROOT, zipFileName } from '../../layer/layer-files.mjs';
import { readZip, unpackZip } from '../../layer/layer-zip.mjs';
import {
  AL2023_SYMBOL_VERSIONS,
  checkElfIdentity,
  EM_AARCH64,
  EM_X86_64,
  elfVersionNeeds,
  readElfHeader,
  symbolVersionsBeyond,
} from '../../layer/executable-checks.mjs';
import { LambdaSimulator } from '../../tools/simulator/index.js';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const otherArch = hostArch === 'arm64' ? 'x86_64' : 'arm64';
const HANDLER = join(REPO_ROOT, 'test/fixtures/functions/echo.mjs');

const work = realpathSync(mkdtempSync(join(tmpdir(), 'layer-e2e-')));
const opt = join(work, 'opt');
const dist = join(work, 'dist');
const executable = join(opt, LAYER_PATHS.executable);
let other: { path: string; bytes: Buffer };
let buildOutput = '';

before(
  async () => {
    const log = (line: string) => process.stderr.write(`${line}\n`);
    // A fresh machine fetches both Bun executables here (a few seconds on a good link); cached, ~2 s.
    other = await buildExecutable(otherArch, { log });
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

/** The processes whose parent is `pid` (the launcher's child, when it does not exec). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

/** Runs one cold start, one invocation and a shutdown; returns what ran the extension and its logs. */
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
    // The launcher waits on the executable (it may have to fall back), or execs node.
    const children = childrenOf(pid);
    const running = children.length === 1 ? (children[0] as number) : pid;
    const exe = readlinkSync(`/proc/${running}/exe`);
    const environ = readFileSync(`/proc/${running}/environ`, 'utf8').split('\0');
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
    return { exe, environ, logs: sim.extensionLogs.map((l) => l.line) };
  } finally {
    await sim.close();
  }
}

/** A stand-in for /var/lang/bin/node: records how it was started, then becomes the Node running this. */
function recordingNode(name: string): { path: string; record: string } {
  const record = join(work, `${name}.log`);
  const path = join(work, name);
  writeFileSync(
    path,
    `#!/bin/sh\necho "$0 $*" >> ${JSON.stringify(record)}\nexec ${JSON.stringify(process.execPath)} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return { path, record };
}

test('the zip unpacks to the launcher, the executable, the fallback bundle and the config', () => {
  const names = readZip(readFileSync(join(dist, zipFileName(hostArch)))).map((e) => e.name);
  for (const name of [LAYER_PATHS.launcher, LAYER_PATHS.executable, LAYER_PATHS.bundle, LAYER_PATHS.config])
    assert.ok(names.includes(name), `${name} in ${names.join()}`);
  assert.equal(statSync(join(opt, LAYER_PATHS.launcher)).mode & 0o777, 0o755);
  assert.equal(statSync(executable).mode & 0o777, 0o755);
  checkElfIdentity(hostArch, readFileSync(executable));
  const chunks = readdirSync(join(REPO_ROOT, 'build', EXTENSION_NAME)).filter((f) =>
    /^chunk-.*\.mjs$/.test(f),
  );
  for (const chunk of chunks) assert.ok(names.includes(`${EXTENSION_NAME}/${chunk}`), chunk);
  // launcher, executable, index.mjs, config.yaml and the bundle's chunks
  assert.match(
    buildOutput,
    new RegExp(`${zipFileName(hostArch)}\\s+\\d+\\.\\d MiB\\s+\\d+\\.\\d MiB\\s+${4 + chunks.length}\\n`),
  );
});

test('the compiled executable runs the extension, even on a Node.js runtime', async () => {
  const node = recordingNode('runtime-node');
  const { exe, logs } = await lifecycle({ LAMBDA_OTEL_RUNTIME_NODE: node.path });
  assert.equal(exe, executable);
  assert.equal(spawnSync('cat', [node.record]).status, 1, 'the runtime node never ran');
  assert.ok(logs.includes(`[otel-lambda-extension] DEBUG launcher: starting ${executable}`), logs.join('\n'));
  assert.ok(!logs.some((l) => /could not start|no Node\.js found/.test(l)), logs.join('\n'));
});

test("the executable loads neither the working directory's .env nor its bunfig.toml", () => {
  // A function's files must not set the extension's environment or preload code into it.
  const cwd = join(work, 'function-dir');
  const marker = join(work, 'preloaded');
  mkdirSync(cwd, { recursive: true });
  writeFileSync(join(cwd, '.env'), 'LAMBDA_OTEL_EXPORTER_ENDPOINT=http://127.0.0.1:1\n');
  writeFileSync(
    join(cwd, 'preload.js'),
    `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n`,
  );
  writeFileSync(join(cwd, 'bunfig.toml'), 'preload = ["./preload.js"]\n');
  // No Runtime API: the extension loads its configuration, says so and exits.
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  const run = spawnSync(executable, [], { cwd, env, encoding: 'utf8', timeout: 30_000 });
  const output = run.stdout + run.stderr;
  assert.equal(run.status, 1, output);
  assert.match(output, /no export destination configured/, 'the .env endpoint was not read');
  assert.match(output, /Extension\.RuntimeApiMissing/);
  assert.equal(existsSync(marker), false, 'bunfig.toml preloaded code');
});

test("the function's Bun settings do not reach the executable; LAMBDA_OTEL_BUN_OPTIONS and the JIT threshold do", async () => {
  // A function on a Bun runtime may preload its instrumentation with BUN_OPTIONS or trace its
  // requests with BUN_CONFIG_VERBOSE_FETCH; Lambda gives extensions the function's environment, and
  // the executable reads both as bun does (the second would print the extension's requests, headers
  // included).
  const preload = (name: string) => {
    const marker = join(work, `${name}.ran`);
    const script = join(work, `${name}.js`);
    writeFileSync(script, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'x');\n`);
    return { marker, script };
  };
  const theirs = preload('function-preload');
  const ours = preload('extension-preload');
  const { exe, environ, logs } = await lifecycle({
    BUN_OPTIONS: `--preload ${theirs.script}`,
    BUN_CONFIG_VERBOSE_FETCH: 'curl',
    LAMBDA_OTEL_BUN_OPTIONS: `--preload ${ours.script}`,
    BUN_JSC_thresholdForOptimizeAfterWarmUp: '1',
  });
  assert.equal(exe, executable);
  assert.equal(existsSync(theirs.marker), false, "the function's BUN_OPTIONS preloaded code");
  assert.equal(existsSync(ours.marker), true, 'LAMBDA_OTEL_BUN_OPTIONS was not applied');
  assert.ok(environ.includes(`BUN_OPTIONS=--preload ${ours.script}`), environ.join('\n'));
  assert.ok(environ.includes('BUN_JSC_thresholdForOptimizeAfterWarmUp=10000'), environ.join('\n'));
  assert.ok(!environ.some((v) => v.startsWith('BUN_CONFIG_')), environ.join('\n'));
  assert.ok(!logs.some((l) => /^curl |HTTP\/1\.1 (GET|POST|PUT) /.test(l.trim())), logs.join('\n'));
});

test('an executable of the other architecture: the launcher says so and the bundle runs on Node', async () => {
  copyFileSync(other.path, executable);
  const node = recordingNode('fallback-node-arch');
  const { exe, logs } = await lifecycle({ LAMBDA_OTEL_RUNTIME_NODE: node.path });
  assert.equal(readFileSync(node.record, 'utf8'), `${node.path} ${join(opt, LAYER_PATHS.bundle)}\n`);
  assert.equal(exe, realpathSync(process.execPath));
  assert.ok(
    logs.includes(
      `[otel-lambda-extension] WARN the executable ${executable} could not start (exit status 126); ` +
        `starting the bundle on ${node.path} instead`,
    ),
    logs.join('\n'),
  );
});

test('an executable that dies on SIGILL (a CPU it does not support): Node on PATH runs the bundle', async () => {
  writeFileSync(executable, '#!/bin/sh\nkill -ILL $$\n', { mode: 0o755 });
  // No runtime node: the simulator's PATH starts with the Node running this.
  const { exe, logs } = await lifecycle({ LAMBDA_OTEL_RUNTIME_NODE: join(work, 'no-runtime-node') });
  assert.equal(exe, realpathSync(process.execPath));
  assert.ok(
    logs.some((l) =>
      /WARN the executable .* could not start \(exit status 132\); starting the bundle on /.test(l),
    ),
    logs.join('\n'),
  );
});

test(`the ${otherArch} executable is a 64-bit little-endian ELF for its machine that runs on Amazon Linux 2023`, () => {
  assert.deepEqual(readElfHeader(other.bytes), {
    bits: 64,
    endianness: 'little',
    type: 2,
    machine: otherArch === 'arm64' ? EM_AARCH64 : EM_X86_64,
  });
  checkElfIdentity(otherArch, other.bytes);
  assert.throws(() => checkElfIdentity(hostArch, other.bytes), /expected 64-bit little-endian machine/);
  const needs = elfVersionNeeds(other.bytes);
  assert.ok(needs.some((n) => n.file === 'libc.so.6'));
  assert.deepEqual(symbolVersionsBeyond(needs, AL2023_SYMBOL_VERSIONS), []);
});
