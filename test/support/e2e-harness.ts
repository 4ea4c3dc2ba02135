// Shared set-up for end-to-end tests: the extension from the built layer (the compiled executable for
// this machine's architecture), inside the Lambda simulator, exporting to a real OpenTelemetry
// Collector (or any endpoint a test gives).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freeLoopbackPort, LambdaSimulator } from '../../tools/simulator/index.js';
import type { SimulatorOptions } from '../../tools/simulator/types.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const LAYER_DIR = join(REPO_ROOT, 'build/layer');
export const BUNDLE = join(LAYER_DIR, 'otel-lambda-extension/index.mjs');
/** The compiled executable build/layer ships on x86_64 and arm64 machines (what the tests run). */
export const EXECUTABLE = join(LAYER_DIR, 'otel-lambda-extension/bin/otel-lambda-extension');
export const FUNCTIONS_DIR = join(REPO_ROOT, 'test/fixtures/functions');
/** Preloaded into instrumented fixture functions (--import): the OpenTelemetry JS SDK set-up. */
export const SETUP_MODULE = join(FUNCTIONS_DIR, 'otel-setup.mjs');
/** Instrumentation scope of what the extension makes (platform spans, metrics, logs). */
export const EXTENSION_SCOPE = 'otel-lambda-extension';
/** Instrumentation scope of the fixture functions' own spans. */
export const FUNCTION_SCOPE = 'otel-fixture';

/** `bytes` random bytes as hex (trace and span ids, unique markers). */
export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Whether this machine's layer is the compiled executable (a pinned Bun exists for its architecture). */
const HOST_HAS_EXECUTABLE = process.arch === 'x64' || process.arch === 'arm64';

/**
 * The layer the simulator starts the extension from: what ships for this machine's architecture,
 * the compiled executable (the launcher falls back to the bundle on Node only if it cannot start).
 * `make test` builds it first; a test file run on its own builds it when it is missing, is another
 * flavour, or is older than the sources' newest change.
 */
export function ensureLayer(): string {
  const artifact = HOST_HAS_EXECUTABLE ? EXECUTABLE : BUNDLE;
  if (!existsSync(artifact) || statSync(artifact).mtimeMs < newestSourceMtime(artifact)) {
    execFileSync(process.execPath, ['build.mjs'], { cwd: REPO_ROOT, stdio: 'ignore' });
    execFileSync(process.execPath, ['layer/build-layer.mjs'], { cwd: REPO_ROOT, stdio: 'ignore' });
  }
  return LAYER_DIR;
}

function newestSourceMtime(artifact: string): number {
  const out = execFileSync('find', ['src', 'layer', '-newer', artifact, '-type', 'f', '-print', '-quit'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return out.trim() === '' ? 0 : Number.POSITIVE_INFINITY;
}

export { freeLoopbackPort };

export interface ExtensionEnvironmentOptions extends Partial<Omit<SimulatorOptions, 'handler' | 'env'>> {
  /** A fixture in test/fixtures/functions (e.g. 'echo.mjs') or a path. */
  handler: string;
  /** OTLP/HTTP base URL the extension exports to (LAMBDA_OTEL_EXPORTER_ENDPOINT). */
  endpoint?: string;
  /** More environment, shared by the function and the extension as on Lambda. */
  env?: Record<string, string>;
  /** The extension's log level (default info; debug shows every flush decision). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface ExtensionEnvironment {
  sim: LambdaSimulator;
  /** The port of the extension's local OTLP receiver; the function's SDK is pointed at it. */
  receiverPort: number;
  /** The extension's own log lines so far. */
  extensionLines(): string[];
}

/** A simulator with the built layer, not started yet: call `sim.start()` or just `sim.invoke()`. */
export async function extensionEnvironment(
  options: ExtensionEnvironmentOptions,
): Promise<ExtensionEnvironment> {
  const { handler, endpoint, env, logLevel, ...simulator } = options;
  const receiverPort = await freeLoopbackPort();
  let grpcPort = await freeLoopbackPort();
  while (grpcPort === receiverPort) grpcPort = await freeLoopbackPort();
  const sim = new LambdaSimulator({
    optDir: ensureLayer(),
    handler: handler.includes('/') ? handler : join(FUNCTIONS_DIR, handler),
    // Whole CPUs and memory headroom unless a test asks for Lambda's model: 7 % of one CPU would
    // make the suite crawl, and a function with its SDK sits close to 128 MB.
    unthrottled: true,
    memoryLimitMB: 512,
    ...simulator,
    env: {
      LAMBDA_OTEL_LOG_LEVEL: logLevel ?? 'info',
      LAMBDA_OTEL_RECEIVER_PORT: String(receiverPort),
      // Tests run side by side: each extension's OTLP/gRPC port is its own too.
      LAMBDA_OTEL_RECEIVER_GRPC_PORT: String(grpcPort),
      // The function's SDK exports to the extension, as users configure it on Lambda.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
      ...(endpoint !== undefined && { LAMBDA_OTEL_EXPORTER_ENDPOINT: endpoint }),
      ...env,
    },
  });
  return {
    sim,
    receiverPort,
    extensionLines: () => sim.extensionLogs.map((l) => l.line),
  };
}

/** The totals of the extension's last `shutdown (...)` log line (export summary). */
export interface ExportSummary {
  reason: string;
  queued: number;
  exported: number;
  exportedBytes: number;
  requests: number;
  retries: number;
  staleConnections: number;
  rejected: number;
  dropped: number;
  droppedByReason: Record<string, number>;
  /** Left queued at exit (lost). */
  unsent: number;
}

/** Parses the export summary the extension logs at SHUTDOWN; undefined when there is none yet. */
export function exportSummary(lines: readonly string[]): ExportSummary | undefined {
  const line = lines.findLast((l) => / shutdown \([a-z]+\): exported /.test(l));
  if (!line) return undefined;
  const num = (re: RegExp): number => {
    const m = re.exec(line);
    if (!m) throw new Error(`export summary without ${re}: ${line}`);
    return Number(m[1]);
  };
  const reasons = /, dropped \d+ \(([^)]*)\), flushes/.exec(line)?.[1] ?? '';
  const droppedByReason: Record<string, number> = {};
  for (const part of reasons.split(' ').filter(Boolean)) {
    const [reason, n] = part.split('=');
    droppedByReason[reason as string] = Number(n);
  }
  return {
    reason: /shutdown \(([a-z]+)\)/.exec(line)?.[1] ?? '',
    queued: num(/export: queued (\d+)/),
    exported: num(/, exported (\d+) items \(/),
    exportedBytes: num(/items \((\d+) B\)/),
    requests: num(/ in (\d+) requests/),
    retries: num(/retries (\d+)/),
    staleConnections: num(/stale connections (\d+)/),
    rejected: num(/rejected (\d+)/),
    dropped: num(/rejected \d+, dropped (\d+)/),
    droppedByReason,
    unsent: num(/unsent (\d+)/),
  };
}
