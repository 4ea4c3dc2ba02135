// Types of bun-binaries.mjs (plain JavaScript so the layer builds with `node` alone).
import type { LambdaArchitecture } from './executable-checks.mjs';

export interface BunBinarySpec {
  readonly npmPackage: string;
  readonly integrity: string;
  readonly sha256: string;
  readonly elfMachine: number;
  /** `bun build --target` for this architecture. */
  readonly compileTarget: string;
}

export const BUN_VERSION: string;
export const DEFAULT_BUN_CACHE: string;
export const BUN_BINARIES: Readonly<Record<LambdaArchitecture, BunBinarySpec>>;
export function hostArchitecture(arch?: string): LambdaArchitecture | undefined;
export function bunBinaryPath(arch: LambdaArchitecture, cacheRoot?: string): string;
export function fetchBunBinary(
  arch: LambdaArchitecture,
  options?: { cacheRoot?: string; log?: (line: string) => void },
): Promise<{ path: string; bytes: Buffer }>;
