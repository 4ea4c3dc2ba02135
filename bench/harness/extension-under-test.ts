// Which extension is measured and how it is set up: this project's built layer by default, or any
// Lambda extension given by path — a layer directory (Lambda's /opt, holding extensions/<name>) or a
// single executable, which is wrapped into a throw-away opt directory under its own name.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { LAYER_PATHS } from '../../layer/layer-files.mjs';
import { ensureLayer, LAYER_DIR } from '../../test/support/e2e-harness.js';
import { findExtensions } from '../../tools/simulator/environment.js';

export type ExtensionKind = 'project-layer' | 'layer-dir' | 'executable';

export interface ExtensionUnderTest {
  kind: ExtensionKind;
  /** What was given (or the project's layer directory). */
  path: string;
  /** The opt directory the simulator starts the extension(s) from. */
  optDir: string;
  /** Extension names: the executables in optDir/extensions. */
  names: string[];
  /** True for this project's extension: its own knobs and its module benchmarks apply. */
  isProject: boolean;
  /** Removes the temporary opt directory of a wrapped executable. */
  dispose(): void;
}

/** The extensions Lambda would start from `optDir`, by name (the simulator's own rule). */
function extensionNames(optDir: string): string[] {
  return findExtensions(optDir).map((e) => e.name);
}

/**
 * Resolves `--extension PATH` (undefined: this project's layer, built when missing or stale).
 * Throws with a clear message when the path holds nothing Lambda would start.
 */
export function resolveExtension(path: string | undefined): ExtensionUnderTest {
  const noop = () => {};
  if (path === undefined || resolve(path) === LAYER_DIR) {
    const optDir = ensureLayer();
    return {
      kind: 'project-layer',
      path: optDir,
      optDir,
      names: extensionNames(optDir),
      isProject: true,
      dispose: noop,
    };
  }
  const full = resolve(path);
  const st = statSync(full, { throwIfNoEntry: false });
  if (!st) throw new Error(`--extension ${path}: no such file or directory`);
  if (st.isDirectory()) {
    const names = extensionNames(full);
    // Another build of this project's layer (another flavour, e.g. `make layer-nodejs`): its own knobs apply.
    if (existsSync(join(full, LAYER_PATHS.launcher)) && existsSync(join(full, LAYER_PATHS.bundle))) {
      return { kind: 'layer-dir', path: full, optDir: full, names, isProject: true, dispose: noop };
    }
    if (names.length === 0) {
      throw new Error(
        `--extension ${path}: a layer directory must hold at least one executable file in extensions/ (as Lambda's /opt)`,
      );
    }
    return { kind: 'layer-dir', path: full, optDir: full, names, isProject: false, dispose: noop };
  }
  if (!st.isFile() || (st.mode & 0o111) === 0) {
    throw new Error(`--extension ${path}: not an executable file (chmod +x it, or give its layer directory)`);
  }
  // A wrapper rather than a copy or symlink: the executable keeps running from where it is (so it
  // finds files next to itself), exec keeps its pid, and the file name is the extension's name.
  const name = basename(full);
  const optDir = mkdtempSync(join(tmpdir(), 'bench-opt-'));
  mkdirSync(join(optDir, 'extensions'));
  const wrapper = join(optDir, 'extensions', name);
  writeFileSync(wrapper, `#!/bin/sh\nexec ${JSON.stringify(full)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return {
    kind: 'executable',
    path: full,
    optDir,
    names: [name],
    isProject: false,
    dispose: () => rmSync(optDir, { recursive: true, force: true }),
  };
}

/**
 * Environment for the extension (and, as on Lambda, the function). Our extension exports to the sink
 * via LAMBDA_OTEL_EXPORTER_ENDPOINT and listens for the function on a free port; a foreign extension
 * is pointed at the sink with the standard OTEL_EXPORTER_OTLP_ENDPOINT. With an HTTPS sink, its
 * certificate is trusted through NODE_EXTRA_CA_CERTS (Node) and SSL_CERT_FILE (OpenSSL, Go, rustls
 * with the platform's roots). `extra` (from --env) wins.
 */
export function extensionEnv(
  ext: ExtensionUnderTest,
  sinkUrl: string,
  receiverPort: number,
  extra: Record<string, string>,
  caFile?: string,
): Record<string, string> {
  const trust: Record<string, string> =
    caFile === undefined
      ? {}
      : ext.isProject
        ? { NODE_EXTRA_CA_CERTS: caFile }
        : { NODE_EXTRA_CA_CERTS: caFile, SSL_CERT_FILE: caFile };
  const base: Record<string, string> = ext.isProject
    ? {
        LAMBDA_OTEL_EXPORTER_ENDPOINT: sinkUrl,
        LAMBDA_OTEL_RECEIVER_PORT: String(receiverPort),
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
      }
    : { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl };
  return { ...base, ...trust, ...extra };
}
