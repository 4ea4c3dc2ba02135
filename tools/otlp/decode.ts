// Test-side OTLP decoder. It loads the .proto files under proto/ directly (not the receiver's
// generated descriptor), so tests check the extension's output with an independent schema path.
//
// Decoded shape (OTLP/JSON-like, lowerCamelCase keys):
// - trace/span ids are lowercase hex strings; an absent id (root span's parent) is ''.
// - 64-bit integers (timestamps, counts, intValue, asInt) are decimal STRINGS, as in OTLP/JSON:
//   epoch nanoseconds do not fit a double. Use `nanosToMs` / `Number()` where a number is wanted.
// - enums (span kind, status code, severity number, temporality) are numbers.
// - scalar fields are always present (proto3 defaults filled in), repeated fields are arrays,
//   unset message fields are null; oneof members (AnyValue, asDouble/asInt, metric data) and
//   proto3 `optional` fields (histogram sum/min/max) appear only when set.
// - bytes other than ids (AnyValue.bytesValue) are base64 strings.

import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { Signal } from '../../src/model/chunk.js';

export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
  kvlistValue?: { values: KeyValue[] };
  bytesValue?: string;
}

export interface KeyValue {
  key: string;
  value: AnyValue | null;
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface InstrumentationScope {
  name: string;
  version: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface SpanEvent {
  timeUnixNano: string;
  name: string;
  attributes: KeyValue[];
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: KeyValue[];
  flags: number;
}

export interface Span {
  traceId: string;
  spanId: string;
  traceState: string;
  parentSpanId: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  status: { code: number; message: string } | null;
}

export interface ScopeSpans {
  scope: InstrumentationScope | null;
  spans: Span[];
  schemaUrl: string;
}

export interface ResourceSpans {
  resource: Resource | null;
  scopeSpans: ScopeSpans[];
  schemaUrl: string;
}

export interface TracesRequest {
  resourceSpans: ResourceSpans[];
}

export interface LogRecord {
  timeUnixNano: string;
  observedTimeUnixNano: string;
  severityNumber: number;
  severityText: string;
  body: AnyValue | null;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  flags: number;
  traceId: string;
  spanId: string;
  eventName: string;
}

export interface ScopeLogs {
  scope: InstrumentationScope | null;
  logRecords: LogRecord[];
  schemaUrl: string;
}

export interface ResourceLogs {
  resource: Resource | null;
  scopeLogs: ScopeLogs[];
  schemaUrl: string;
}

export interface LogsRequest {
  resourceLogs: ResourceLogs[];
}

export interface Exemplar {
  filteredAttributes: KeyValue[];
  timeUnixNano: string;
  asDouble?: number;
  asInt?: string;
  spanId: string;
  traceId: string;
}

export interface NumberDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  asDouble?: number;
  asInt?: string;
  exemplars: Exemplar[];
  flags: number;
}

export interface HistogramDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum?: number;
  bucketCounts: string[];
  explicitBounds: number[];
  exemplars: Exemplar[];
  flags: number;
  min?: number;
  max?: number;
}

export interface ExponentialHistogramDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum?: number;
  scale: number;
  zeroCount: string;
  positive: { offset: number; bucketCounts: string[] } | null;
  negative: { offset: number; bucketCounts: string[] } | null;
  flags: number;
  exemplars: Exemplar[];
  min?: number;
  max?: number;
  zeroThreshold: number;
}

export interface SummaryDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano: string;
  timeUnixNano: string;
  count: string;
  sum: number;
  quantileValues: { quantile: number; value: number }[];
  flags: number;
}

export interface Metric {
  name: string;
  description: string;
  unit: string;
  gauge?: { dataPoints: NumberDataPoint[] };
  sum?: { dataPoints: NumberDataPoint[]; aggregationTemporality: number; isMonotonic: boolean };
  histogram?: { dataPoints: HistogramDataPoint[]; aggregationTemporality: number };
  exponentialHistogram?: { dataPoints: ExponentialHistogramDataPoint[]; aggregationTemporality: number };
  summary?: { dataPoints: SummaryDataPoint[] };
  metadata: KeyValue[];
}

export interface ScopeMetrics {
  scope: InstrumentationScope | null;
  metrics: Metric[];
  schemaUrl: string;
}

export interface ResourceMetrics {
  resource: Resource | null;
  scopeMetrics: ScopeMetrics[];
  schemaUrl: string;
}

export interface MetricsRequest {
  resourceMetrics: ResourceMetrics[];
}

export interface SignalRequests {
  traces: TracesRequest;
  metrics: MetricsRequest;
  logs: LogsRequest;
}

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

const SERVICE_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'google/rpc/status.proto',
];

const SERVICE_NAME: Record<Signal, string> = { traces: 'Trace', metrics: 'Metrics', logs: 'Logs' };
const PACKAGE: Record<Signal, string> = { traces: 'trace', metrics: 'metrics', logs: 'logs' };

let cachedRoot: protobuf.Root | undefined;

/** The schema under proto/, loaded once. */
export function otlpRoot(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => PROTO_DIR + target;
  root.loadSync(SERVICE_FILES);
  root.resolveAll();
  cachedRoot = root;
  return root;
}

export function requestType(signal: Signal): protobuf.Type {
  const name = SERVICE_NAME[signal];
  return otlpRoot().lookupType(
    `opentelemetry.proto.collector.${PACKAGE[signal]}.v1.Export${name}ServiceRequest`,
  );
}

export function responseType(signal: Signal): protobuf.Type {
  const name = SERVICE_NAME[signal];
  return otlpRoot().lookupType(
    `opentelemetry.proto.collector.${PACKAGE[signal]}.v1.Export${name}ServiceResponse`,
  );
}

const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** Ids to hex, other bytes to base64, recursively (toObject leaves bytes as Buffer/Uint8Array). */
function normalizeBytes(value: unknown, key: string | undefined): unknown {
  if (value instanceof Uint8Array) {
    return ID_KEYS.has(key ?? '')
      ? Buffer.from(value).toString('hex')
      : Buffer.from(value).toString('base64');
  }
  if (Array.isArray(value)) return value.map((v) => normalizeBytes(v, undefined));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalizeBytes(v, k);
    return out;
  }
  return value;
}

function toPlain(type: protobuf.Type, bytes: Uint8Array): unknown {
  const message = type.decode(bytes);
  return normalizeBytes(
    type.toObject(message, { longs: String, enums: Number, defaults: true, arrays: true, oneofs: false }),
    undefined,
  );
}

export function decodeTraces(bytes: Uint8Array): TracesRequest {
  return toPlain(requestType('traces'), bytes) as TracesRequest;
}

export function decodeMetrics(bytes: Uint8Array): MetricsRequest {
  return toPlain(requestType('metrics'), bytes) as MetricsRequest;
}

export function decodeLogs(bytes: Uint8Array): LogsRequest {
  return toPlain(requestType('logs'), bytes) as LogsRequest;
}

export function decodeRequest<S extends Signal>(signal: S, bytes: Uint8Array): SignalRequests[S] {
  return toPlain(requestType(signal), bytes) as SignalRequests[S];
}

/** An Export*ServiceResponse; `partialSuccess` is null on full success. */
export function decodeResponse(
  signal: Signal,
  bytes: Uint8Array,
): { partialSuccess: { errorMessage: string; [rejected: string]: string | number } | null } {
  return toPlain(responseType(signal), bytes) as {
    partialSuccess: { errorMessage: string; [rejected: string]: string | number } | null;
  };
}

/** A google.rpc.Status error body. */
export function decodeStatus(bytes: Uint8Array): { code: number; message: string } {
  return toPlain(otlpRoot().lookupType('google.rpc.Status'), bytes) as { code: number; message: string };
}

/** Hex ids back to bytes, recursively, so OTLP/JSON-like objects can be encoded with fromObject. */
function idsToBytes(value: unknown, key: string | undefined): unknown {
  if (typeof value === 'string' && ID_KEYS.has(key ?? '')) return Buffer.from(value, 'hex');
  if (Array.isArray(value)) return value.map((v) => idsToBytes(v, undefined));
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = idsToBytes(v, k);
    return out;
  }
  return value;
}

/**
 * Encodes an OTLP/JSON-like request (hex ids, decimal-string or number 64-bit ints) to protobuf,
 * for tests that need hand-made input.
 */
export function encodeRequest(signal: Signal, request: object): Uint8Array {
  const type = requestType(signal);
  return type.encode(type.fromObject(idsToBytes(request, undefined) as Record<string, unknown>)).finish();
}

/** Epoch ns (decimal string) to epoch ms. */
export function nanosToMs(nanos: string): number {
  return Number(BigInt(nanos) / 1000n) / 1000;
}

function anyValue(v: AnyValue | null | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : BigInt(v.intValue);
  }
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return v.arrayValue.values.map(anyValue);
  if (v.kvlistValue) return attrs(v.kvlistValue.values);
  if (v.bytesValue !== undefined) return v.bytesValue;
  return undefined;
}

/**
 * Attributes as a plain record: strings, booleans, doubles as is; intValue as a number (a bigint
 * beyond 2^53); arrays as arrays; kvlists as nested records; bytes as base64.
 */
export function attrs(kv: readonly KeyValue[] | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of kv ?? []) out[key] = anyValue(value);
  return out;
}

/** A body or any single AnyValue as a plain value. */
export function plainValue(v: AnyValue | null | undefined): unknown {
  return anyValue(v);
}

export interface Located {
  resource: Record<string, unknown>;
  scope: InstrumentationScope | null;
}

export type LocatedSpan = Span & Located;
export type LocatedLogRecord = LogRecord & Located;
export type LocatedMetric = Metric & Located;

/** Every span with its resource attributes (as a record) and scope attached. */
export function allSpans(req: TracesRequest): LocatedSpan[] {
  return req.resourceSpans.flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((span) => ({ ...span, resource: attrs(rs.resource?.attributes), scope: ss.scope })),
    ),
  );
}

export function allLogRecords(req: LogsRequest): LocatedLogRecord[] {
  return req.resourceLogs.flatMap((rl) =>
    rl.scopeLogs.flatMap((sl) =>
      sl.logRecords.map((record) => ({
        ...record,
        resource: attrs(rl.resource?.attributes),
        scope: sl.scope,
      })),
    ),
  );
}

export function allMetrics(req: MetricsRequest): LocatedMetric[] {
  return req.resourceMetrics.flatMap((rm) =>
    rm.scopeMetrics.flatMap((sm) =>
      sm.metrics.map((metric) => ({ ...metric, resource: attrs(rm.resource?.attributes), scope: sm.scope })),
    ),
  );
}

/** The data points of a metric, whatever its type. */
export function dataPoints(
  metric: Metric,
): (NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint)[] {
  return (
    metric.gauge?.dataPoints ??
    metric.sum?.dataPoints ??
    metric.histogram?.dataPoints ??
    metric.exponentialHistogram?.dataPoints ??
    metric.summary?.dataPoints ??
    []
  );
}
