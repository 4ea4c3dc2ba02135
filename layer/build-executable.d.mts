// Types of build-executable.mjs (plain JavaScript so the layer builds with `node` alone).
import type { LambdaArchitecture } from './executable-checks.mjs';

export const EXECUTABLE_DIR: string;
export function executablePath(arch: LambdaArchitecture): string;
export function buildExecutable(
  arch: LambdaArchitecture,
  options?: { log?: (line: string) => void },
): Promise<{ path: string; bytes: Buffer }>;
