// Structural types of decoded OTLP messages as protobufjs hands them over (camelCase fields, bytes
// as Uint8Array, 64-bit integers as Long-like objects, repeated fields always arrays). Only the
// fields the receiver reads or rewrites are listed.

export interface WireLong {
  low: number;
  high: number;
  unsigned: boolean;
  toString(): string;
}

export interface WireAnyValue {
  /**
   * Which oneof member is set (protobufjs' virtual oneof property). Check it rather than the member:
   * unset members read as their proto3 default from the prototype ('' for stringValue).
   */
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: WireLong | number;
  doubleValue?: number;
  arrayValue?: { values: WireAnyValue[] } | null;
  kvlistValue?: { values: WireKeyValue[] } | null;
  bytesValue?: Uint8Array;
}

export interface WireKeyValue {
  key: string;
  value?: WireAnyValue | null;
}

export interface WireResource {
  attributes: WireKeyValue[];
}

export interface WireSpanLink {
  traceId: Uint8Array;
  spanId: Uint8Array;
}

export interface WireSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId: Uint8Array;
  name: string;
  /** Span.SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: WireKeyValue[];
  links: WireSpanLink[];
}

export interface WireScopeSpans {
  spans: WireSpan[];
}

export interface WireResourceSpans {
  resource?: WireResource | null;
  scopeSpans: WireScopeSpans[];
}

export interface WireLogRecord {
  traceId: Uint8Array;
  spanId: Uint8Array;
}

export interface WireScopeLogs {
  logRecords: WireLogRecord[];
}

export interface WireResourceLogs {
  resource?: WireResource | null;
  scopeLogs: WireScopeLogs[];
}

export interface WireExemplar {
  traceId: Uint8Array;
  spanId: Uint8Array;
}

export interface WireDataPoint {
  exemplars: WireExemplar[];
}

export interface WireMetric {
  gauge?: { dataPoints: WireDataPoint[] } | null;
  sum?: { dataPoints: WireDataPoint[] } | null;
  histogram?: { dataPoints: WireDataPoint[] } | null;
  exponentialHistogram?: { dataPoints: WireDataPoint[] } | null;
  summary?: { dataPoints: WireDataPoint[] } | null;
}

export interface WireScopeMetrics {
  metrics: WireMetric[];
}

export interface WireResourceMetrics {
  resource?: WireResource | null;
  scopeMetrics: WireScopeMetrics[];
}

/** Lowercase hex of an id ('' when absent; an unset bytes field decodes as an empty array). */
export function idToHex(id: Uint8Array | readonly number[]): string {
  if (id.length === 0) return '';
  return id instanceof Uint8Array
    ? Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')
    : Buffer.from(id).toString('hex');
}

/** The first attribute with one of `keys` holding a string, if any. */
export function stringAttribute(
  attributes: readonly WireKeyValue[],
  keys: readonly string[],
): string | undefined {
  for (const kv of attributes) {
    if (kv.value?.value === 'stringValue' && keys.includes(kv.key)) return kv.value.stringValue;
  }
  return undefined;
}
