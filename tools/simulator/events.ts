// The shape of every record the Telemetry API pushes, built one place so the order and fields match
// Lambda's: `{time, type, record}` envelopes, platform.* records, and function/extension log records
// in text or JSON log format.
import { isoTime, roundMs } from './clock.js';
import { TRACE_HEADER_TYPE } from './tracing.js';
import type { LogFormat, TelemetryEnvelope } from './types.js';

export interface SpanRecord {
  name: string;
  start: string;
  durationMs: number;
}

export interface TracingRecord {
  spanId: string;
  type: typeof TRACE_HEADER_TYPE;
  value: string;
}

export function envelope(type: string, record: unknown, atMs: number): TelemetryEnvelope {
  return { time: isoTime(atMs), type, record };
}

export function span(name: string, startMs: number, endMs: number): SpanRecord {
  return { name, start: isoTime(startMs), durationMs: roundMs(endMs - startMs) };
}

export function tracingRecord(spanId: string, value: string): TracingRecord {
  return { spanId, type: TRACE_HEADER_TYPE, value };
}

/** Drops undefined fields so optional fields are absent, not null, in the JSON. */
function compact<T extends Record<string, unknown>>(record: T): T {
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record;
}

export interface InitStartRecord {
  initializationType: string;
  phase: string;
  functionName: string;
  functionVersion: string;
  instanceId?: string;
  instanceMaxMemory?: number;
  runtimeVersion?: string;
  runtimeVersionArn?: string;
}

export const platform = {
  initStart: (r: InitStartRecord) => compact({ ...r }),

  initRuntimeDone: (r: {
    initializationType: string;
    phase: string;
    status: string;
    errorType?: string;
    spans?: SpanRecord[];
  }) => compact({ ...r }),

  initReport: (r: {
    initializationType: string;
    phase: string;
    status: string;
    errorType?: string;
    durationMs: number;
    spans?: SpanRecord[];
  }) =>
    compact({
      initializationType: r.initializationType,
      phase: r.phase,
      status: r.status,
      errorType: r.errorType,
      metrics: { durationMs: roundMs(r.durationMs) },
      spans: r.spans,
    }),

  start: (r: { requestId: string; version: string; tracing?: TracingRecord }) => compact({ ...r }),

  runtimeDone: (r: {
    requestId: string;
    status: string;
    errorType?: string;
    durationMs: number;
    producedBytes: number;
    spans: SpanRecord[];
    tracing?: TracingRecord;
  }) =>
    compact({
      requestId: r.requestId,
      status: r.status,
      errorType: r.errorType,
      metrics: { durationMs: roundMs(r.durationMs), producedBytes: r.producedBytes },
      spans: r.spans,
      tracing: r.tracing,
    }),

  report: (r: {
    requestId: string;
    status: string;
    errorType?: string;
    metrics: {
      durationMs: number;
      billedDurationMs?: number;
      memorySizeMB?: number;
      maxMemoryUsedMB?: number;
      initDurationMs?: number;
      restoreDurationMs?: number;
    };
    spans?: SpanRecord[];
    tracing?: TracingRecord;
  }) =>
    compact({
      requestId: r.requestId,
      status: r.status,
      errorType: r.errorType,
      metrics: compact({
        ...r.metrics,
        durationMs: roundMs(r.metrics.durationMs),
        initDurationMs:
          r.metrics.initDurationMs === undefined ? undefined : roundMs(r.metrics.initDurationMs),
        restoreDurationMs:
          r.metrics.restoreDurationMs === undefined ? undefined : roundMs(r.metrics.restoreDurationMs),
      }),
      spans: r.spans,
      tracing: r.tracing,
    }),

  restoreStart: (r: {
    functionName: string;
    functionVersion: string;
    instanceId?: string;
    instanceMaxMemory?: number;
    runtimeVersion?: string;
    runtimeVersionArn?: string;
  }) => compact({ ...r }),

  restoreRuntimeDone: (r: { status: string; errorType?: string; spans?: SpanRecord[] }) => compact({ ...r }),

  restoreReport: (r: { status: string; errorType?: string; durationMs: number; spans?: SpanRecord[] }) =>
    compact({
      status: r.status,
      errorType: r.errorType,
      metrics: { durationMs: roundMs(r.durationMs) },
      spans: r.spans,
    }),

  extension: (r: { name: string; state: string; events: string[]; errorType?: string }) => compact({ ...r }),

  telemetrySubscription: (r: { name: string; state: string; types: string[] }) => ({ ...r }),

  logsDropped: (r: { droppedBytes: number; droppedRecords: number; reason: string }) => ({ ...r }),
};

export const LOGS_DROPPED_REASON =
  'Some logs were dropped because the downstream consumer is slower than the logs production rate';

/**
 * A function/extension log record. Text format: the line itself. JSON format: a line that already is
 * a JSON object (what runtimes write in JSON mode) passes through; any other line is wrapped as
 * `{timestamp, level, requestId, message}`.
 */
export function logRecord(
  format: LogFormat,
  line: string,
  atMs: number,
  stream: 'stdout' | 'stderr',
  requestId: string | undefined,
): unknown {
  if (format === 'text') return line;
  if (line.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed;
    } catch {
      // not JSON after all: wrapped below
    }
  }
  return compact({
    timestamp: isoTime(atMs),
    level: stream === 'stderr' ? 'ERROR' : 'INFO',
    requestId,
    message: line,
  });
}

/** Schema 2022-07-01 predates structured log records: objects are delivered as their JSON text. */
export function recordForSchema(env: TelemetryEnvelope, schemaVersion: string): TelemetryEnvelope {
  if (schemaVersion !== '2022-07-01') return env;
  if ((env.type === 'function' || env.type === 'extension') && typeof env.record === 'object') {
    return { ...env, record: JSON.stringify(env.record) };
  }
  return env;
}
