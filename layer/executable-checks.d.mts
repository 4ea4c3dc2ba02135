// Types of executable-checks.mjs (plain JavaScript so the layer builds with `node` alone).

export type LambdaArchitecture = 'x86_64' | 'arm64';

export interface ElfHeader {
  bits: 32 | 64;
  endianness: 'little' | 'big';
  type: number;
  machine: number;
}

export interface ElfVersionNeed {
  /** The shared library, e.g. libc.so.6. */
  file: string;
  /** Versioned symbols needed from it, e.g. GLIBC_2.28. */
  versions: string[];
}

export const EM_X86_64: 62;
export const EM_AARCH64: 183;
export const LAMBDA_ARCHITECTURES: readonly LambdaArchitecture[];
export const AL2023_SYMBOL_VERSIONS: Readonly<Record<string, string>>;

export function checkElfIdentity(arch: LambdaArchitecture, bytes: Buffer): void;
export function readElfHeader(bytes: Buffer): ElfHeader;
export function elfVersionNeeds(bytes: Buffer): ElfVersionNeed[];
export function highestSymbolVersions(needs: readonly ElfVersionNeed[]): Record<string, string>;
export function symbolVersionsBeyond(
  needs: readonly ElfVersionNeed[],
  limits: Readonly<Record<string, string>>,
): string[];
export function compareVersions(a: string, b: string): -1 | 0 | 1;
export function fetchNpmPackageFile(options: {
  /** name@version */
  pkg: string;
  integrity: string;
  /** The file inside the tarball, e.g. package/bin/node. */
  member: string;
  sha256: string;
  /** Where it is cached. */
  path: string;
  /** Prefix of log lines and errors. */
  label: string;
  log: (line: string) => void;
}): Promise<Buffer>;
