// Reading a durable execution's operations: the invocation event's InitialExecutionState (a list on
// the wire, a map keyed by operation id in some SDKs and in the JS SDK's own step data), the trace
// checkpoints among them, and the execution's input payload.

import { fromDatadogHeaders } from './datadog.js';
import { type DurableTraceContext, fromW3cHeaders } from './trace-context.js';

/** Operations named `_otel_<N>` or `_otel_<N>_<suffix>` carry our checkpoints. */
export const OTEL_CHECKPOINT_PREFIX = '_otel_';
/** Operations named `_datadog_<N>` carry Datadog's (x-datadog-* headers, maybe traceparent). */
export const DATADOG_CHECKPOINT_PREFIX = '_datadog_';

const OTEL_NAME = /^_otel_(\d{1,15})(?:_([0-9a-z]{1,32}))?$/;
const DATADOG_NAME = /^_datadog_(\d{1,15})$/;
/** Payloads beyond this are not trace headers; they are not parsed. */
const MAX_PAYLOAD_CHARS = 64 * 1024;

export type CheckpointFormat = 'otel' | 'datadog';

export interface TraceCheckpoint {
  format: CheckpointFormat;
  name: string;
  n: number;
  /** Parsed payload headers, keys lowercase; undefined when the payload is missing or not JSON headers. */
  headers: Record<string, unknown> | undefined;
  /** For ordering checkpoints with the same N (concurrent writers): later wins. */
  timeMs: number;
}

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The operations of an event's InitialExecutionState (or of a bare list/map), as a list. Entries
 * that are not objects are dropped.
 */
export function operationsOf(source: unknown): Rec[] {
  let ops: unknown = source;
  if (isRecord(source) && 'InitialExecutionState' in source) {
    const state = source['InitialExecutionState'];
    ops = isRecord(state) ? state['Operations'] : undefined;
  }
  let list: unknown[];
  if (Array.isArray(ops)) list = ops;
  else if (isRecord(ops)) list = Object.values(ops);
  else return [];
  return list.filter(isRecord);
}

/** Parses a checkpoint name: its format and N, or undefined for any other operation. */
export function parseCheckpointName(name: unknown): { format: CheckpointFormat; n: number } | undefined {
  if (typeof name !== 'string') return undefined;
  let m = OTEL_NAME.exec(name);
  if (m !== null) return { format: 'otel', n: Number(m[1]) };
  m = DATADOG_NAME.exec(name);
  if (m !== null) return { format: 'datadog', n: Number(m[1]) };
  return undefined;
}

/** A JSON object in a string (or already an object), keys lowercased; undefined otherwise. */
export function parseHeaders(raw: unknown): Record<string, unknown> | undefined {
  let value: unknown = raw;
  if (typeof raw === 'string') {
    if (raw.length > MAX_PAYLOAD_CHARS) return undefined;
    try {
      value = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  if (!isRecord(value)) return undefined;
  const headers: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) headers[key.toLowerCase()] = v;
  return headers;
}

function timeOf(op: Rec): number {
  for (const key of ['EndTimestamp', 'StartTimestamp']) {
    const v = op[key];
    const ms =
      v instanceof Date
        ? v.getTime()
        : typeof v === 'string' || typeof v === 'number'
          ? Date.parse(String(v))
          : Number.NaN;
    if (Number.isFinite(ms)) return ms;
  }
  return 0;
}

/** The step result a checkpoint stored (StepDetails.Result), or an update's Payload. */
function payloadOf(op: Rec): unknown {
  const details = op['StepDetails'];
  if (isRecord(details) && details['Result'] !== undefined) return details['Result'];
  return op['Payload'];
}

/** Every trace checkpoint among the operations, in no particular order. */
export function traceCheckpoints(operations: readonly Rec[]): TraceCheckpoint[] {
  const found: TraceCheckpoint[] = [];
  for (const op of operations) {
    const parsed = parseCheckpointName(op['Name']);
    if (parsed === undefined) continue;
    found.push({
      ...parsed,
      name: op['Name'] as string,
      headers: parseHeaders(payloadOf(op)),
      timeMs: timeOf(op),
    });
  }
  return found;
}

/** The context a checkpoint carries, when complete. */
export function checkpointContext(checkpoint: TraceCheckpoint): DurableTraceContext | undefined {
  if (checkpoint.headers === undefined) return undefined;
  return checkpoint.format === 'otel'
    ? fromW3cHeaders(checkpoint.headers)
    : fromDatadogHeaders(checkpoint.headers);
}

/** Orders checkpoints newest first: higher N, then the later time, then the greater name. */
export function newestFirst(a: TraceCheckpoint, b: TraceCheckpoint): number {
  if (a.n !== b.n) return b.n - a.n;
  if (a.timeMs !== b.timeMs) return b.timeMs - a.timeMs;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}

/**
 * The newest checkpoint of a format whose payload is a complete context. A checkpoint without a
 * usable payload (its SUCCEED never written, or damaged) is passed over for the one before it.
 */
export function latestContext(
  operations: readonly Rec[],
  format: CheckpointFormat,
): { checkpoint: TraceCheckpoint; context: DurableTraceContext } | undefined {
  const candidates = traceCheckpoints(operations)
    .filter((c) => c.format === format)
    .sort(newestFirst);
  for (const checkpoint of candidates) {
    const context = checkpointContext(checkpoint);
    if (context !== undefined) return { checkpoint, context };
  }
  return undefined;
}

/** The highest N used by checkpoints of a format, usable or not; -1 when there are none. */
export function highestN(operations: readonly Rec[], format: CheckpointFormat): number {
  let n = -1;
  for (const c of traceCheckpoints(operations)) if (c.format === format && c.n > n) n = c.n;
  return n;
}

/**
 * The execution's original input (ExecutionDetails.InputPayload of the EXECUTION operation, a JSON
 * string), parsed; undefined when absent or not JSON.
 */
export function executionInput(operations: readonly Rec[]): unknown {
  const execution =
    operations.find((op) => op['Type'] === 'EXECUTION') ??
    operations.find((op) => isRecord(op['ExecutionDetails']));
  const details = execution?.['ExecutionDetails'];
  if (!isRecord(details)) return undefined;
  const raw = details['InputPayload'];
  if (typeof raw !== 'string' || raw.length > 6 * 1024 * 1024) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/**
 * Trace headers in an input payload: at its top level, in `headers` (API Gateway, function URLs,
 * ALB) or in `_datadog` (Datadog's Step Functions and Lambda conventions). The first place with a
 * complete context wins; within one place Datadog's ids and W3C's are combined as fromDatadogHeaders does.
 */
export function inputContext(input: unknown): DurableTraceContext | undefined {
  if (!isRecord(input)) return undefined;
  for (const carrier of [input['headers'], input, input['_datadog']]) {
    const headers = parseHeaders(carrier);
    if (headers === undefined) continue;
    const context = fromDatadogHeaders(headers);
    if (context !== undefined) return context;
  }
  return undefined;
}
