// Checks and fetching for the executables the layer ships (the compiled extension, see
// bun-binaries.mjs): ELF identity per Lambda architecture, the C library symbol versions an executable
// needs against Amazon Linux 2023, and one file of a pinned npm package fetched into the cache.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** ELF e_machine values (System V ABI). */
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** The ELF machine each Lambda architecture's executables must be built for. */
const ELF_MACHINES = Object.freeze({ x86_64: EM_X86_64, arm64: EM_AARCH64 });

export const LAMBDA_ARCHITECTURES = Object.freeze(/** @type {const} */ (['x86_64', 'arm64']));

/**
 * Highest symbol versions Lambda's Amazon Linux 2023 base provides: glibc 2.34 and the libstdc++ of
 * GCC 11 (GLIBCXX_3.4.29, CXXABI_1.3.13).
 */
export const AL2023_SYMBOL_VERSIONS = Object.freeze({ GLIBC: '2.34', GLIBCXX: '3.4.29', CXXABI: '1.3.13' });

/** Throws unless `bytes` is a 64-bit little-endian ELF executable for `arch` that runs on Amazon Linux 2023. */
export function checkElfIdentity(arch, bytes) {
  const machine = elfMachineOf(arch);
  const header = readElfHeader(bytes);
  if (header.bits !== 64 || header.endianness !== 'little' || header.machine !== machine) {
    throw new Error(
      `${arch} executable is ELF ${header.bits}-bit ${header.endianness}-endian machine ${header.machine}, ` +
        `expected 64-bit little-endian machine ${machine}`,
    );
  }
  const tooNew = symbolVersionsBeyond(elfVersionNeeds(bytes), AL2023_SYMBOL_VERSIONS);
  if (tooNew.length > 0) {
    throw new Error(`${arch} executable needs ${tooNew.join(', ')}, newer than Amazon Linux 2023 has`);
  }
}

/** The ELF identification and machine of an executable. */
export function readElfHeader(bytes) {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const bits = bytes[4] === 1 ? 32 : bytes[4] === 2 ? 64 : undefined;
  const endianness = bytes[5] === 1 ? 'little' : bytes[5] === 2 ? 'big' : undefined;
  if (bits === undefined || endianness === undefined) {
    throw new Error(`ELF header has an invalid class (${bytes[4]}) or data encoding (${bytes[5]})`);
  }
  const u16 = endianness === 'little' ? bytes.readUInt16LE(18) : bytes.readUInt16BE(18);
  const type = endianness === 'little' ? bytes.readUInt16LE(16) : bytes.readUInt16BE(16);
  return { bits, endianness, type, machine: u16 };
}

const SHT_GNU_VERNEED = 0x6ffffffe;

/**
 * The versioned symbols a 64-bit little-endian ELF executable needs from each shared library
 * (its .gnu.version_r section): what the dynamic loader checks before `main`.
 */
export function elfVersionNeeds(bytes) {
  const header = readElfHeader(bytes);
  if (header.bits !== 64 || header.endianness !== 'little') {
    throw new Error('version needs are read from 64-bit little-endian ELF files only');
  }
  const shoff = Number(bytes.readBigUInt64LE(0x28));
  const shentsize = bytes.readUInt16LE(0x3a);
  const shnum = bytes.readUInt16LE(0x3c);
  const section = (i) => {
    const at = shoff + i * shentsize;
    if (i >= shnum || at + 64 > bytes.length) throw new Error(`ELF section header ${i} is out of bounds`);
    return {
      type: bytes.readUInt32LE(at + 4),
      offset: Number(bytes.readBigUInt64LE(at + 24)),
      size: Number(bytes.readBigUInt64LE(at + 32)),
      link: bytes.readUInt32LE(at + 40),
      info: bytes.readUInt32LE(at + 44),
    };
  };
  const needs = [];
  for (let i = 0; i < shnum; i++) {
    const verneed = section(i);
    if (verneed.type !== SHT_GNU_VERNEED) continue;
    const strings = section(verneed.link);
    const str = (offset) => {
      const start = strings.offset + offset;
      const end = bytes.indexOf(0, start);
      if (offset >= strings.size || end < 0) throw new Error('ELF version string is out of bounds');
      return bytes.toString('latin1', start, end);
    };
    let at = verneed.offset;
    for (let n = 0; n < verneed.info; n++) {
      const versions = [];
      let aux = at + bytes.readUInt32LE(at + 8);
      for (let k = bytes.readUInt16LE(at + 2); k > 0; k--) {
        versions.push(str(bytes.readUInt32LE(aux + 8)));
        aux += bytes.readUInt32LE(aux + 12);
      }
      needs.push({ file: str(bytes.readUInt32LE(at + 4)), versions });
      const next = bytes.readUInt32LE(at + 12);
      if (next === 0) break;
      at += next;
    }
  }
  return needs;
}

/** The highest version needed per symbol-version family (GLIBC, GLIBCXX, CXXABI, GCC). */
export function highestSymbolVersions(needs) {
  const highest = {};
  for (const { versions } of needs) {
    for (const v of versions) {
      const m = /^([A-Z]+)_([0-9.]+)$/.exec(v);
      if (!m) continue;
      const [, family, version] = /** @type {[string, string, string]} */ (m);
      if (highest[family] === undefined || compareVersions(version, highest[family]) > 0)
        highest[family] = version;
    }
  }
  return highest;
}

/** `FAMILY_version` entries needed beyond `limits` (families without a limit are not judged). */
export function symbolVersionsBeyond(needs, limits) {
  return Object.entries(highestSymbolVersions(needs))
    .filter(
      ([family, version]) => limits[family] !== undefined && compareVersions(version, limits[family]) > 0,
    )
    .map(([family, version]) => `${family}_${version}`);
}

export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function elfMachineOf(arch) {
  const machine = Object.hasOwn(ELF_MACHINES, arch) ? ELF_MACHINES[arch] : undefined;
  if (machine === undefined)
    throw new Error(`unknown Lambda architecture "${arch}" (expected ${LAMBDA_ARCHITECTURES.join(' or ')})`);
  return machine;
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * One file of a pinned npm package, fetched with `npm pack` (the npm client, so the user's registry
 * settings apply), checked against the tarball's integrity and the file's own sha256, and moved into
 * `path` with mode 0755. Returns the file's bytes.
 */
export async function fetchNpmPackageFile({ pkg, integrity, member, sha256: want, path, label, log }) {
  await mkdir(dirname(path), { recursive: true });
  await removeAbandonedFetches(dirname(path));
  // A scratch directory beside the target: the final rename stays on one file system and is atomic,
  // so an interrupted fetch never leaves a partial executable in the cache.
  const work = await mkdtemp(join(dirname(path), '.fetch-'));
  try {
    log(`${label}: fetching ${pkg} with npm pack`);
    const packed = await run(
      'npm',
      ['pack', pkg, '--json', '--ignore-scripts', '--pack-destination', work],
      work,
    );
    const info = JSON.parse(packed.slice(packed.indexOf('[')))[0];
    if (info?.integrity !== integrity) {
      throw new Error(`${pkg} tarball integrity ${info?.integrity} does not match the pinned ${integrity}`);
    }
    const tarball = join(work, info.filename);
    const tgzHash = `sha512-${createHash('sha512')
      .update(await readFile(tarball))
      .digest('base64')}`;
    if (tgzHash !== integrity)
      throw new Error(`${pkg} tarball on disk has ${tgzHash}, expected ${integrity}`);
    await run('tar', ['-xzf', tarball, '-C', work, member], work);
    const extracted = join(work, member);
    const bytes = await readFile(extracted);
    if (sha256(bytes) !== want) throw new Error(`${pkg} ${member} does not match the pinned sha256 ${want}`);
    await chmod(extracted, 0o755);
    await rename(extracted, path);
    log(`${label}: cached ${path} (${(bytes.length / 1048576).toFixed(1)} MiB)`);
    return bytes;
  } catch (err) {
    throw new Error(`${label}: could not fetch ${pkg}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Scratch directories of fetches killed midway (an hour old: a live fetch takes seconds). */
async function removeAbandonedFetches(dir) {
  for (const name of await readdir(dir).catch(() => [])) {
    if (!name.startsWith('.fetch-')) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(path, { recursive: true, force: true });
  }
}

function run(command, args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    child.on('error', (err) => reject(new Error(`${command} could not start: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(
            `${command} ${args[0]} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
    });
  });
}
