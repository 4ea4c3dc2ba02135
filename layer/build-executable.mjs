// Compiles the extension into one executable per Lambda architecture with Bun:
//   bun build --compile --bytecode --minify --format=cjs --target=bun-linux-<cpu>
// from layer/executable-entry.ts (the sources, bundled by Bun). The host's pinned Bun compiles; the
// target architecture's pinned Bun (from the cache, see bun-binaries.mjs) is the executable's base,
// given with --compile-executable-path, so nothing is downloaded outside the npm registry.
//
//   node layer/build-executable.mjs [x86_64|arm64 ...]   → build/executable/<arch>/otel-lambda-extension

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUN_BINARIES, fetchBunBinary, hostArchitecture } from './bun-binaries.mjs';
import { EXTENSION_NAME, REPO_ROOT } from './layer-files.mjs';
import { checkElfIdentity } from './executable-checks.mjs';

export const EXECUTABLE_DIR = join(REPO_ROOT, 'build', 'executable');

export function executablePath(arch) {
  return join(EXECUTABLE_DIR, arch, EXTENSION_NAME);
}

/** Compiles the executable for `arch`; resolves with its path and bytes. */
export async function buildExecutable(arch, { log = () => {} } = {}) {
  const host = hostArchitecture();
  if (host === undefined)
    throw new Error(`no pinned Bun runs on ${process.arch}; compile on x86_64 or arm64`);
  const compiler = await fetchBunBinary(host, { log });
  const base = arch === host ? compiler : await fetchBunBinary(arch, { log });
  const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'));
  const out = executablePath(arch);
  await mkdir(join(out, '..'), { recursive: true });
  // An empty install cache of its own: without --compile-executable-path Bun would download the
  // target's executable from registry.npmjs.org into it (ignoring BUN_CONFIG_REGISTRY and
  // NPM_CONFIG_REGISTRY), behind our pins; the cache must still be empty afterwards.
  const scratch = await mkdtemp(join(tmpdir(), 'bun-compile-'));
  try {
    await run(
      compiler.path,
      [
        'build',
        join(REPO_ROOT, 'layer', 'executable-entry.ts'),
        '--compile',
        '--bytecode',
        '--minify',
        '--format=cjs',
        // JavaScriptCore compiles a function once it has run 500 (baseline JIT) or 1,000
        // (optimizing JIT) times. The extension runs the same code a few dozen times per
        // invocation, so at those thresholds its first invocations pay for compiling code that
        // runs a handful of times more. Three times the thresholds: about a quarter less CPU per
        // invocation over the first twenty (JIT threads ~2.1 -> ~1.0 ms each), throughput within
        // noise (ten times cost a quarter of the receiver's throughput).
        '--compile-jit-policy=3',
        // Not the working directory's .env or bunfig.toml (a function's files could set the
        // extension's environment or preload code into it).
        '--no-compile-autoload-dotenv',
        '--no-compile-autoload-bunfig',
        `--target=${BUN_BINARIES[arch].compileTarget}`,
        `--compile-executable-path=${base.path}`,
        '--define',
        `__OTEL_LAMBDA_EXTENSION_VERSION__=${JSON.stringify(version)}`,
        '--outfile',
        out,
      ],
      { ...process.env, BUN_INSTALL_CACHE_DIR: join(scratch, 'cache'), BUN_INSTALL: scratch },
    );
    const fetched = await readdir(join(scratch, 'cache')).catch(() => []);
    if (fetched.length > 0)
      throw new Error(`bun build downloaded ${fetched.join(', ')} instead of using the pinned Bun`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const bytes = await readFile(out);
  checkElfIdentity(arch, bytes);
  log(`executable: ${out.slice(REPO_ROOT.length + 1)} ${((await stat(out)).size / 1048576).toFixed(1)} MiB`);
  return { path: out, bytes };
}

function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) => reject(new Error(`bun could not start: ${err.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`bun build exited with ${code}: ${stderr.trim().slice(-2000)}`)),
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arches = process.argv.slice(2);
  try {
    for (const arch of arches.length > 0 ? arches : [hostArchitecture()])
      await buildExecutable(arch, { log: (l) => console.error(l) });
  } catch (err) {
    console.error(`executable: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
