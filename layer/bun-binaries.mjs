// The Bun executables the extension is compiled with (`bun build --compile`): one per Lambda
// architecture, from the npm registry's @oven/bun-linux-<cpu> packages (Bun's own release builds),
// pinned to one version, to the package tarball's integrity and to bin/bun's own hash.
//
// The host's Bun compiles for both architectures: `--compile-executable-path` hands it the other
// architecture's cached executable, so cross-compiling needs no download of Bun's own.
//
// Cache: <cacheRoot>/<version>/<arch>/bun (default .cache/bun-binaries/), filled once by `npm pack`.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkElfIdentity, EM_AARCH64, EM_X86_64, fetchNpmPackageFile } from './executable-checks.mjs';

// Bump the four hashes with the version: `npm view @oven/bun-linux-x64@X dist.integrity`, then the
// sha256 of package/bin/bun.
export const BUN_VERSION = '1.4.5';

export const DEFAULT_BUN_CACHE = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '.cache',
  'bun-binaries',
);

/** Per Lambda architecture: the package, its hashes, and Bun's name for the compile target. */
export const BUN_BINARIES = Object.freeze({
  x86_64: Object.freeze({
    npmPackage: '@oven/bun-linux-x64',
    integrity:
      'sha512-IWX9BELoGHAUtMonkeSaNaZwXzRk+oDw6Mk+HBFXd3KHYIBNBsIGRupMZPcgNoDbJpLu6gAJjIoIVPZtt1aJ1g==',
    sha256: 'f05d28a3862f4b84395c7fa32480b835dd47482e80b7e7a49a115227f0c06083',
    elfMachine: EM_X86_64,
    compileTarget: 'bun-linux-x64',
  }),
  arm64: Object.freeze({
    npmPackage: '@oven/bun-linux-aarch64',
    integrity:
      'sha512-4BXmsSKnjOrlGWqZV4x/oWa7AVoR+B6lCXddMzOAXBIm3t50eslg9wb66gmtW1AamEQ1l1CDvmmruysEhqOWMg==',
    sha256: '04778f1f42399a69d086853e9c7af4acf574b2f21a43d0dc673853d8b84a2923',
    elfMachine: EM_AARCH64,
    compileTarget: 'bun-linux-arm64',
  }),
});

/** The Lambda architecture of this machine (the Bun that can run here), or undefined. */
export function hostArchitecture(arch = process.arch) {
  return arch === 'x64' ? 'x86_64' : arch === 'arm64' ? 'arm64' : undefined;
}

export function bunBinaryPath(arch, cacheRoot = DEFAULT_BUN_CACHE) {
  specOf(arch);
  return join(cacheRoot, BUN_VERSION, arch, 'bun');
}

/**
 * The pinned Bun executable for `arch`, from the cache or fetched into it (`npm pack`, ~52 MB).
 * Checked against the pinned hash and its ELF header against the architecture.
 */
export async function fetchBunBinary(arch, { cacheRoot = DEFAULT_BUN_CACHE, log = () => {} } = {}) {
  const spec = specOf(arch);
  const path = bunBinaryPath(arch, cacheRoot);
  let bytes = await readFile(path).catch(() => undefined);
  if (bytes === undefined || sha256(bytes) !== spec.sha256) {
    if (bytes !== undefined) log(`bun-binaries: ${path} does not match the pinned hash; fetching again`);
    bytes = await fetchNpmPackageFile({
      pkg: `${spec.npmPackage}@${BUN_VERSION}`,
      integrity: spec.integrity,
      member: 'package/bin/bun',
      sha256: spec.sha256,
      path,
      label: `bun-binaries: ${arch}`,
      log,
    });
  }
  if (sha256(bytes) !== spec.sha256)
    throw new Error(`bun-binaries: ${path} does not match the pinned sha256`);
  checkElfIdentity(arch, bytes);
  return { path, bytes };
}

function specOf(arch) {
  const spec = Object.hasOwn(BUN_BINARIES, arch) ? BUN_BINARIES[arch] : undefined;
  if (!spec) throw new Error(`unknown Lambda architecture "${arch}" (expected x86_64 or arm64)`);
  return spec;
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

// `node layer/bun-binaries.mjs` (make bun-binaries): fills the cache for every architecture, so the
// executables' builds and the tests read it instead of fetching.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const arch of Object.keys(BUN_BINARIES)) {
    const { path } = await fetchBunBinary(arch, { log: (line) => process.stderr.write(`${line}\n`) });
    console.log(path);
  }
}
