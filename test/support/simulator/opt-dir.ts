// Builds throw-away layer directories (Lambda's /opt) for tests: one launcher per extension in
// <dir>/extensions/, pointing at the recorder fixture, at any other script, or at a plain sleeper.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RECORDER_ENTRY = fileURLToPath(
  new URL('../../fixtures/extensions/opt-minimal/recorder/index.mjs', import.meta.url),
);
export const OPT_MINIMAL = fileURLToPath(new URL('../../fixtures/extensions/opt-minimal', import.meta.url));

/** A launcher running the recorder fixture under the launcher's own file name. */
export function recorderLauncher(): string {
  return `#!/bin/sh\nexec node ${JSON.stringify(RECORDER_ENTRY)} "$(basename "$0")"\n`;
}

/** A launcher running a Node script. */
export function nodeLauncher(script: string, ...args: string[]): string {
  return `#!/bin/sh\nexec node ${[script, ...args].map((a) => JSON.stringify(a)).join(' ')}\n`;
}

/** A process that does nothing: for tests that drive the Extensions API themselves under its name. */
export function sleeperLauncher(): string {
  return '#!/bin/sh\nexec sleep 600\n';
}

export interface OptDir {
  dir: string;
  /** A scratch file path inside the directory (for recorder output). */
  file(name: string): string;
  remove(): void;
}

export function createOptDir(extensions: Record<string, string>): OptDir {
  const dir = mkdtempSync(join(tmpdir(), 'lambda-opt-'));
  mkdirSync(join(dir, 'extensions'));
  for (const [name, launcher] of Object.entries(extensions)) {
    const path = join(dir, 'extensions', name);
    writeFileSync(path, launcher);
    chmodSync(path, 0o755);
  }
  return {
    dir,
    file: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The JSON lines a recorder wrote (empty when the file does not exist yet). */
export function readJsonLines<T = Record<string, unknown>>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}
