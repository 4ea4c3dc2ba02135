// The layer's launcher (layer/launcher.sh) starts the compiled executable when the layer ships one;
// when it cannot start (the shell cannot run it, or it dies on SIGILL/SIGBUS/SIGSEGV/SIGABRT) or the
// layer ships none, the bundle on a Node: the runtime's /var/lang/bin/node (LAMBDA_OTEL_RUNTIME_NODE
// stands in for it here), else node on PATH, else it fails loudly. Stand-in `node` and executable
// scripts record how they were started, under every POSIX shell installed (Lambda's /bin/sh is bash;
// Debian's is dash).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';

const LAUNCHER = join(import.meta.dirname, '../../layer/launcher.sh');
const work = mkdtempSync(join(tmpdir(), 'layer-launcher-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A stand-in `node` that prints who it is, its arguments and the environment the launcher set. */
function fakeNode(path: string, label: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(
    path,
    `#!/bin/sh\nprintf '%s\\n' ${JSON.stringify(label)} "$@" "NODE_OPTIONS=\${NODE_OPTIONS-unset}" "NAME=$LAMBDA_OTEL_EXTENSION_NAME"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

/**
 * A stand-in compiled executable: prints who it is and the environment the launcher set, then ends as
 * FAKE_END says: an exit status (default 0), `kill SIG` (dies on that signal, as on an unsupported CPU),
 * `release` (says it is done, then takes 3 s to end) or `environment` (prints its whole environment).
 */
function fakeExecutable(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(
    path,
    `#!/bin/sh
printf '%s\\n' executable "$@" "NODE_OPTIONS=\${NODE_OPTIONS-unset}" "NAME=$LAMBDA_OTEL_EXTENSION_NAME"
` +
      `case \${FAKE_END:-0} in kill*) kill -\${FAKE_END#kill } $$ ;;
  release) kill -USR1 "$LAMBDA_OTEL_LAUNCHER_PID"; exec >/dev/null 2>&1; /bin/sleep 3; exit 0 ;;
  environment) export -p; exit 0 ;;
  *) exit "\${FAKE_END:-0}" ;; esac
`,
  );
  chmodSync(path, 0o755);
  return path;
}

/** A layer directory: extensions/<name> (the launcher) and otel-lambda-extension/ (maybe with the executable). */
function layer(name: string, { shipped }: { shipped: boolean }): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'extensions'), { recursive: true });
  mkdirSync(join(dir, 'otel-lambda-extension'), { recursive: true });
  copyFileSync(LAUNCHER, join(dir, 'extensions', 'otel-lambda-extension'));
  chmodSync(join(dir, 'extensions', 'otel-lambda-extension'), 0o755);
  if (shipped) fakeExecutable(join(dir, 'otel-lambda-extension', 'bin', 'otel-lambda-extension'));
  return dir;
}

const runtimeNode = fakeNode(join(work, 'runtime', 'bin', 'node'), 'runtime');
const pathDir = join(work, 'path-bin');
fakeNode(join(pathDir, 'node'), 'path');
// PATH without any node: only the utilities a POSIX shell needs for the launcher (none, in fact).
const emptyPath = join(work, 'empty-bin');
mkdirSync(emptyPath);

// Absolute paths (the tests give the launcher a PATH without the usual directories), each shell once.
const shells = [
  ...new Map(
    ['sh', 'bash', 'dash']
      .map((s) => spawnSync('sh', ['-c', `command -v ${s}`], { encoding: 'utf8' }).stdout.trim())
      .filter((path) => path !== '')
      .map((path) => [realpathSync(path), path]),
  ).values(),
];

function launch(shell: string, layerDir: string, env: Record<string, string>, cwd = work) {
  const result = spawnSync(shell, [join(layerDir, 'extensions', 'otel-lambda-extension')], {
    cwd,
    env: { NODE_OPTIONS: '--require /var/task/instrument.cjs', ...env },
    encoding: 'utf8',
  });
  return { status: result.status, lines: result.stdout.trim().split('\n'), stderr: result.stderr };
}

for (const shell of shells) {
  const label = basename(shell);
  describe(`under ${shell}`, () => {
    const full = layer(`full-${label}`, { shipped: true });
    const nodeOnly = layer(`nodejs-${label}`, { shipped: false });
    const bundle = (dir: string) => join(dir, 'otel-lambda-extension', 'index.mjs');

    test('the shipped executable runs the extension, even on a Node.js runtime', () => {
      const r = launch(shell, full, { LAMBDA_OTEL_RUNTIME_NODE: runtimeNode, PATH: pathDir });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.lines, ['executable', 'NODE_OPTIONS=unset', 'NAME=otel-lambda-extension']);
      assert.equal(r.stderr, '');
    });

    test("none of the function's BUN_* settings reach the executable; LAMBDA_OTEL_BUN_OPTIONS does", () => {
      const names = (lines: string[]) =>
        lines.map((l) => /^(?:export|declare -x) ([A-Za-z_][A-Za-z0-9_]*)/.exec(l)?.[1]).filter(Boolean);
      const r = launch(shell, full, {
        PATH: pathDir,
        FAKE_END: 'environment',
        BUN_OPTIONS: '--preload /var/task/instrument.ts',
        BUN_CONFIG_VERBOSE_FETCH: 'curl',
        BUN_JSC_thresholdForOptimizeAfterWarmUp: '1',
        BUN_JSC_useJIT: '0',
        BUN_2: 'x y  z',
        // Not Bun's: kept, even where the value looks like a Bun setting or holds a glob.
        FUNCTION_SETTING: 'BUN_FAKE=1 *',
        NODE_EXTRA_CA_CERTS: '/var/task/ca.pem',
        LAMBDA_OTEL_BUN_OPTIONS: '--smol',
      });
      assert.equal(r.status, 0, r.stderr);
      const bun = names(r.lines).filter((n) => n?.startsWith('BUN_'));
      assert.deepEqual(
        bun.sort(),
        ['BUN_JSC_thresholdForOptimizeAfterWarmUp', 'BUN_OPTIONS'],
        r.lines.join('\n'),
      );
      const text = r.lines.join('\n');
      assert.match(text, /BUN_OPTIONS=['"]--smol['"]/);
      assert.match(text, /BUN_JSC_thresholdForOptimizeAfterWarmUp=['"]?10000['"]?/);
      assert.match(text, /FUNCTION_SETTING=['"]BUN_FAKE=1 \*['"]/);
      assert.match(text, /NODE_EXTRA_CA_CERTS=/);
    });

    test("the executable's own exit status is final: no Node runs after it", () => {
      for (const end of ['1', '2', '137']) {
        const r = launch(shell, full, {
          LAMBDA_OTEL_RUNTIME_NODE: runtimeNode,
          PATH: pathDir,
          FAKE_END: end,
        });
        assert.equal(r.status, Number(end), r.stderr);
        assert.deepEqual(r.lines[0], 'executable');
        assert.ok(!r.lines.includes('runtime'), r.lines.join());
      }
    });

    test('an executable that says it is done (SIGUSR1) is not waited for while it is torn down', () => {
      const started = performance.now();
      const r = launch(shell, full, {
        LAMBDA_OTEL_RUNTIME_NODE: runtimeNode,
        PATH: pathDir,
        FAKE_END: 'release',
      });
      const ms = performance.now() - started;
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.lines[0], 'executable');
      assert.ok(!r.lines.includes('runtime'), r.lines.join());
      // The stand-in takes 3 s more to end after the signal.
      assert.ok(ms < 2500, `the launcher waited ${ms.toFixed(0)} ms`);
    });

    for (const [end, status] of [
      ['126', 126],
      ['127', 127],
      ['kill ILL', 132],
      ['kill ABRT', 134],
      ['kill BUS', 135],
      ['kill SEGV', 139],
    ] as const) {
      test(`an executable that cannot start (${end}) falls back to the runtime's node and says so`, () => {
        const r = launch(shell, full, {
          LAMBDA_OTEL_RUNTIME_NODE: runtimeNode,
          PATH: pathDir,
          FAKE_END: end,
        });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.lines.slice(-4), [
          'runtime',
          bundle(full),
          'NODE_OPTIONS=unset',
          'NAME=otel-lambda-extension',
        ]);
        const executable = join(full, 'otel-lambda-extension', 'bin', 'otel-lambda-extension');
        assert.match(
          r.stderr,
          new RegExp(
            `\\[otel-lambda-extension\\] WARN the executable ${executable} could not start \\(exit status ${status}\\); ` +
              `starting the bundle on ${runtimeNode} instead\\n$`,
          ),
        );
      });
    }

    test('an executable of another architecture falls back to node on PATH', () => {
      const dir = layer(`foreign-${label}`, { shipped: false });
      const executable = join(dir, 'otel-lambda-extension', 'bin', 'otel-lambda-extension');
      mkdirSync(join(executable, '..'));
      // An ELF header for a machine this kernel does not run (s390, 22): execve says ENOEXEC.
      const elf = Buffer.alloc(64);
      elf.write('\x7fELF', 0, 'latin1');
      elf.set([2, 1, 1], 4);
      elf.writeUInt16LE(2, 16);
      elf.writeUInt16LE(process.arch === 's390x' ? 62 : 22, 18);
      writeFileSync(executable, elf, { mode: 0o755 });
      const r = launch(shell, dir, {
        LAMBDA_OTEL_RUNTIME_NODE: join(work, 'missing', 'node'),
        PATH: pathDir,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.lines.slice(0, 2), ['path', bundle(dir)]);
      assert.match(
        r.stderr,
        /WARN the executable .* could not start \(exit status 126\); starting the bundle on /,
      );
    });

    test('an executable that cannot start and no Node at all: one clear line, exit 1', () => {
      const r = launch(shell, full, {
        LAMBDA_OTEL_RUNTIME_NODE: join(work, 'missing', 'node'),
        PATH: emptyPath,
        FAKE_END: '127',
      });
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /\[otel-lambda-extension\] ERROR the executable .* could not start \(exit status 127\) and no Node\.js found .*extension not started\n$/,
      );
    });

    test("without an executable (Node.js-runtime flavour) the runtime's node comes first", () => {
      const r = launch(shell, nodeOnly, { LAMBDA_OTEL_RUNTIME_NODE: runtimeNode, PATH: pathDir });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.lines, [
        'runtime',
        bundle(nodeOnly),
        'NODE_OPTIONS=unset',
        'NAME=otel-lambda-extension',
      ]);
    });

    test('with neither, node on PATH runs the extension', () => {
      const r = launch(shell, nodeOnly, {
        LAMBDA_OTEL_RUNTIME_NODE: join(work, 'missing', 'node'),
        PATH: pathDir,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.lines.slice(0, 2), ['path', bundle(nodeOnly)]);
    });

    test('with no node at all it exits 1 with one clear line', () => {
      const r = launch(shell, nodeOnly, {
        LAMBDA_OTEL_RUNTIME_NODE: join(work, 'missing', 'node'),
        PATH: emptyPath,
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^\[otel-lambda-extension\] ERROR no Node\.js found .*extension not started\n$/);
    });

    test('debug names the executable it starts', () => {
      const r = launch(shell, full, { LAMBDA_OTEL_LOG_LEVEL: 'debug', PATH: pathDir });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.lines[0],
        `[otel-lambda-extension] DEBUG launcher: starting ${join(full, 'otel-lambda-extension', 'bin', 'otel-lambda-extension')}`,
      );
    });

    test('LAMBDA_OTEL_NODE_OPTIONS reach node as arguments; debug names the chosen node', () => {
      const r = launch(shell, nodeOnly, {
        LAMBDA_OTEL_RUNTIME_NODE: runtimeNode,
        LAMBDA_OTEL_NODE_OPTIONS: '--max-old-space-size=64 --no-warnings',
        LAMBDA_OTEL_LOG_LEVEL: 'DEBUG',
        PATH: pathDir,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.lines, [
        `[otel-lambda-extension] DEBUG launcher: starting ${join(nodeOnly, 'otel-lambda-extension')}/index.mjs with ${runtimeNode}`,
        'runtime',
        '--max-old-space-size=64',
        '--no-warnings',
        bundle(nodeOnly),
        'NODE_OPTIONS=unset',
        'NAME=otel-lambda-extension',
      ]);
    });

    test('started by a relative path or through a symlinked directory, it finds its own layer', () => {
      const link = join(work, `link-${label}`);
      symlinkSync(full, link);
      const env = { LAMBDA_OTEL_RUNTIME_NODE: join(work, 'missing', 'node'), PATH: pathDir };
      const relative = spawnSync(shell, ['extensions/otel-lambda-extension'], {
        cwd: link,
        env,
        encoding: 'utf8',
      });
      assert.equal(relative.status, 0, relative.stderr);
      assert.deepEqual(relative.stdout.split('\n').slice(0, 1), ['executable']);
      // Lambda names the extension after the launcher's file name.
      copyFileSync(LAUNCHER, join(full, 'extensions', 'renamed'));
      const renamed = spawnSync(shell, [join(link, 'extensions', 'renamed')], { env, encoding: 'utf8' });
      assert.equal(renamed.stdout.trim().split('\n').at(-1), 'NAME=renamed');
    });
  });
}

test('the launcher is valid POSIX sh with no bashisms that dash rejects', () => {
  for (const shell of shells) {
    const r = spawnSync(shell, ['-n', LAUNCHER], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${shell}: ${r.stderr}`);
  }
  assert.match(readFileSync(LAUNCHER, 'utf8'), /^#!\/bin\/sh\n/);
});
