// Runs a handler and the extension from a built layer in the Lambda simulator: init, a planned
// series of invocations with frozen gaps, SHUTDOWN. The extension exports to an embedded OTLP sink
// on 127.0.0.1 (decoded, for the waterfall and the tables) or to an endpoint the user gives.

import { existsSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { Signal } from '../../src/model/chunk.js';
import { freeLoopbackPort } from '../simulator/ports.js';
import { type OtlpSink, startOtlpSink } from '../otlp/sink.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  type LocatedLogRecord,
  type LocatedMetric,
  type LocatedSpan,
  type LogsRequest,
  type MetricsRequest,
  type TracesRequest,
} from '../otlp/decode.js';
import { LambdaSimulator } from '../simulator/simulator.js';
import type { InitResult, InvocationResult, LogFormat, LogLine, ShutdownResult } from '../simulator/types.js';
import { DEFAULT_LAYER_DIR, LAYER_LAUNCHER } from './paths.js';

export interface PlannedInvocation {
  payload: unknown;
  /** Frozen time before this invocation (the environment idles between requests). */
  idleBeforeMs?: number;
}

export interface LocalRunOptions {
  /** The handler module (.mjs/.js exporting `handler`), resolved from the current directory. */
  handler: string;
  /** The exported function (default `handler`). */
  handlerExport?: string;
  invocations: readonly PlannedInvocation[];
  /** The layer directory (Lambda's /opt); default build/layer. */
  layerDir?: string;
  /** OTLP/HTTP base URL to export to; unset: an embedded sink that records what arrives. */
  endpoint?: string;
  logFormat?: LogFormat;
  /** Default: the handler file's name. */
  functionName?: string;
  memorySizeMB?: number;
  /** Whole CPUs instead of Lambda's share of one (memorySizeMB / 1769); the memory limit stays. */
  unthrottled?: boolean;
  timeoutMs?: number;
  /** More environment for the function and the extension (as on Lambda, they share it). */
  env?: Record<string, string>;
  /** The extension's log level (default info: it then reports its shutdown summary). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** Print every process line as it comes. */
  echo?: boolean;
  /** Aborting kills the environment's processes (frozen ones too) and ends the run with an error. */
  signal?: AbortSignal;
}

/** What the embedded sink received, decoded. */
export interface ReceivedTelemetry {
  endpoint: string;
  requests: Record<Signal, number>;
  spans: LocatedSpan[];
  metrics: LocatedMetric[];
  logs: LocatedLogRecord[];
}

export interface LocalRunResult {
  functionName: string;
  layerDir: string;
  endpoint: string;
  init: InitResult | undefined;
  invocations: InvocationResult[];
  shutdown: ShutdownResult;
  /** Undefined when exporting to a user-given endpoint. */
  received: ReceivedTelemetry | undefined;
  extensionLines: LogLine[];
  functionLines: LogLine[];
  durationMs: number;
}

/** A problem with the runner's input (reported as a usage error, not a crash). */
export class LocalRunError extends Error {
  override readonly name = 'LocalRunError';
}

/** Checks the layer directory holds the extension's launcher; returns its absolute path. */
export function checkLayerDir(layerDir: string): string {
  const dir = resolve(layerDir);
  if (!existsSync(join(dir, LAYER_LAUNCHER))) {
    const hint =
      resolve(DEFAULT_LAYER_DIR) === dir
        ? 'build it with `make layer`'
        : 'pass the unpacked layer with --layer DIR';
    throw new LocalRunError(`no extension layer at ${dir} (${LAYER_LAUNCHER} is missing): ${hint}`);
  }
  return dir;
}

export function checkHandler(handler: string): string {
  const file = resolve(handler);
  if (!existsSync(file)) throw new LocalRunError(`handler module not found: ${file}`);
  return file;
}

/** A name Lambda would accept, from the handler's file name. */
export function functionNameFor(handler: string): string {
  const name = basename(handler, extname(handler))
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 64);
  return name === '' ? 'local-function' : name;
}

export async function runLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const startedMs = performance.now();
  const layerDir = checkLayerDir(options.layerDir ?? DEFAULT_LAYER_DIR);
  const handler = checkHandler(options.handler);
  const functionName = options.functionName ?? functionNameFor(handler);
  let sink: OtlpSink | undefined;
  let sim: LambdaSimulator | undefined;
  const abort = () => void sim?.close();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    if (options.endpoint === undefined) sink = await startOtlpSink();
    const endpoint = options.endpoint ?? (sink as OtlpSink).url;
    // A free port rather than 4318: a collector on this machine may already listen there.
    const receiverPort = await freeLoopbackPort();
    sim = new LambdaSimulator({
      optDir: layerDir,
      handler,
      ...(options.handlerExport !== undefined && { handlerExport: options.handlerExport }),
      functionName,
      logFormat: options.logFormat ?? 'text',
      memorySizeMB: options.memorySizeMB ?? 256,
      unthrottled: options.unthrottled ?? false,
      timeoutMs: options.timeoutMs ?? 3000,
      echo: options.echo ?? false,
      env: {
        LAMBDA_OTEL_LOG_LEVEL: options.logLevel ?? 'info',
        LAMBDA_OTEL_RECEIVER_PORT: String(receiverPort),
        LAMBDA_OTEL_EXPORTER_ENDPOINT: endpoint,
        // The function's SDK exports to the extension's local receiver, as configured on Lambda.
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`,
        ...options.env,
      },
    });
    const aborted = () => {
      if (options.signal?.aborted) throw new LocalRunError('interrupted');
    };
    const init = await sim.start();
    const invocations: InvocationResult[] = [];
    for (const planned of options.invocations) {
      aborted();
      if (planned.idleBeforeMs) await sim.idle(planned.idleBeforeMs);
      aborted();
      invocations.push(await sim.invoke(planned.payload));
    }
    aborted();
    const shutdown = await sim.shutdown();
    aborted();
    // The extension has exited: whatever it exported is in the sink.
    return {
      functionName,
      layerDir,
      endpoint,
      init: sim.inits[0] ?? init,
      invocations,
      shutdown,
      received: sink ? receivedBy(sink) : undefined,
      extensionLines: [...sim.extensionLogs],
      functionLines: [...sim.functionLogs],
      durationMs: performance.now() - startedMs,
    };
  } catch (error) {
    if (options.signal?.aborted) throw new LocalRunError('interrupted');
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    await sim?.close();
    await sink?.close();
  }
}

function receivedBy(sink: OtlpSink): ReceivedTelemetry {
  const requests: Record<Signal, number> = { traces: 0, metrics: 0, logs: 0 };
  const spans: LocatedSpan[] = [];
  const metrics: LocatedMetric[] = [];
  const logs: LocatedLogRecord[] = [];
  for (const request of sink.requests) {
    requests[request.signal]++;
    if (request.decoded === undefined) continue;
    if (request.signal === 'traces') spans.push(...allSpans(request.decoded as TracesRequest));
    else if (request.signal === 'metrics') metrics.push(...allMetrics(request.decoded as MetricsRequest));
    else logs.push(...allLogRecords(request.decoded as LogsRequest));
  }
  return { endpoint: sink.url, requests, spans, metrics, logs };
}
