// Encodes finished spans, collected metrics and log records into TelemetryChunks: protobuf now (the pipeline's
// currency), OTLP/JSON only if an exporter asks for it.

import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { OtlpJsonRequest, Signal, TelemetryChunk } from '../model/chunk.js';
import { fieldTag, lengthDelimited, readField, WIRE_LENGTH, wireFields } from '../model/otlp-wire.js';
import type { FinishedSpan } from './spans.js';

class EncodedChunk implements TelemetryChunk {
  readonly bytes: number;

  constructor(
    readonly signal: Signal,
    readonly items: number,
    readonly createdAtMs: number,
    readonly protobuf: Uint8Array,
    private readonly source: FinishedSpan[] | ResourceMetrics | ReadableLogRecord[],
  ) {
    this.bytes = protobuf.byteLength;
  }

  json(): OtlpJsonRequest {
    const encoded =
      this.signal === 'traces'
        ? JsonTraceSerializer.serializeRequest(this.source as FinishedSpan[])
        : this.signal === 'logs'
          ? JsonLogsSerializer.serializeRequest(this.source as ReadableLogRecord[])
          : JsonMetricsSerializer.serializeRequest(this.source as ResourceMetrics);
    if (encoded === undefined) throw new Error(`OTLP/JSON encoding of a ${this.signal} chunk failed`);
    return JSON.parse(new TextDecoder().decode(encoded)) as OtlpJsonRequest;
  }
}

// Every chunk carries the same resource (a few dozen attributes), which changes only when the
// extension learns an attribute late. Encoding it for every chunk was a fifth of a flush's encoding
// CPU on the cold paths of rare invocations; instead, requests are serialized with a stand-in
// resource without attributes, and its Resource field is replaced by the real one's bytes, encoded
// once per resource. The result is byte for byte what the serializer writes with the real resource.

/** The resource whose Resource field is cached, its stand-in, and both fields' bytes. */
interface ResourceFields {
  resource: Resource;
  standIn: Resource;
  real: Uint8Array;
  standInField: Uint8Array;
}

let cachedResource: ResourceFields | undefined;

/** Field 1 is length-delimited in the request (Resource*) and in Resource* (Resource) alike. */
const RESOURCE_FIELD_TAG = fieldTag(1, WIRE_LENGTH);

/** Field 1 (the Resource) of the first ResourceMetrics in a serialized request with no metrics. */
function resourceField(resource: Resource): Uint8Array | undefined {
  const bytes = ProtobufMetricsSerializer.serializeRequest({ resource, scopeMetrics: [] });
  if (bytes === undefined) return undefined;
  for (const outer of wireFields(bytes, 0, bytes.length)) {
    if (outer.tag !== RESOURCE_FIELD_TAG) continue;
    for (const inner of wireFields(bytes, outer.valueStart, outer.end))
      if (inner.tag === RESOURCE_FIELD_TAG) return bytes.slice(inner.start, inner.end);
  }
  return undefined;
}

function fieldsFor(resource: Resource): ResourceFields | undefined {
  if (cachedResource?.resource === resource) return cachedResource;
  const standIn = resourceFromAttributes(
    {},
    resource.schemaUrl === undefined ? undefined : { schemaUrl: resource.schemaUrl },
  );
  const real = resourceField(resource);
  const standInField = resourceField(standIn);
  if (real === undefined || standInField === undefined) return undefined;
  cachedResource = { resource, standIn, real, standInField };
  return cachedResource;
}

/**
 * `request` (an Export*ServiceRequest serialized with `fields.standIn`) with every stand-in Resource
 * field replaced by the real one; undefined if the request is not laid out as expected.
 */
function spliceResource(request: Uint8Array, fields: ResourceFields): Uint8Array | undefined {
  const { real, standInField } = fields;
  const parts: Uint8Array[] = [];
  for (const outer of wireFields(request, 0, request.length)) {
    if (outer.tag !== RESOURCE_FIELD_TAG) return undefined;
    const first = readField(request, outer.valueStart, outer.end);
    const isStandIn =
      first.tag === RESOURCE_FIELD_TAG &&
      first.end - first.start === standInField.length &&
      standInField.every((byte, i) => request[first.start + i] === byte);
    if (!isStandIn) return undefined;
    parts.push(...lengthDelimited(1, [real, request.subarray(first.end, outer.end)]));
  }
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/**
 * Serializes with the stand-in of `resource` in place of it (`swap` puts one or the other where the
 * serializer reads it) and splices the real resource in; the plain serialization when that fails.
 */
function serializeWithResource(
  resource: Resource,
  swap: (to: Resource) => void,
  serialize: () => Uint8Array | undefined,
): Uint8Array | undefined {
  const fields = fieldsFor(resource);
  if (fields !== undefined) {
    swap(fields.standIn);
    let spliced: Uint8Array | undefined;
    try {
      const withStandIn = serialize();
      if (withStandIn !== undefined) spliced = spliceResource(withStandIn, fields);
    } finally {
      swap(resource);
    }
    if (spliced !== undefined) return spliced;
  }
  return serialize();
}

/** One ExportTraceServiceRequest for `spans`, all under `resource`; undefined if encoding failed. */
export function encodeSpans(spans: FinishedSpan[], resource: Resource): TelemetryChunk | undefined {
  let oldest = Number.POSITIVE_INFINITY;
  for (const span of spans) if (span.endMs < oldest) oldest = span.endMs;
  const bytes = serializeWithResource(
    resource,
    (to) => {
      for (const span of spans) span.resource = to;
    },
    () => ProtobufTraceSerializer.serializeRequest(spans),
  );
  if (bytes === undefined) return undefined;
  return new EncodedChunk('traces', spans.length, oldest, bytes, spans);
}

export function encodeMetrics(
  resourceMetrics: ResourceMetrics,
  points: number,
  createdAtMs: number,
): TelemetryChunk | undefined {
  const { resource, scopeMetrics } = resourceMetrics;
  let current = resource;
  const bytes = serializeWithResource(
    resource,
    (to) => {
      current = to;
    },
    () => ProtobufMetricsSerializer.serializeRequest({ resource: current, scopeMetrics }),
  );
  if (bytes === undefined) return undefined;
  return new EncodedChunk('metrics', points, createdAtMs, bytes, resourceMetrics);
}

/** One ExportLogsServiceRequest for `records`; undefined if encoding failed. */
export function encodeLogs(records: ReadableLogRecord[], createdAtMs: number): TelemetryChunk | undefined {
  const resource = records[0]?.resource;
  // Records under several resources are serialized as they are (the converter uses one).
  const single = resource !== undefined && records.every((r) => r.resource === resource);
  const bytes = single
    ? serializeWithResource(
        resource,
        (to) => {
          // ReadableLogRecord's resource is read-only for its consumers; the converter's records are its own.
          for (const record of records) (record as { resource: Resource }).resource = to;
        },
        () => ProtobufLogsSerializer.serializeRequest(records),
      )
    : ProtobufLogsSerializer.serializeRequest(records);
  if (bytes === undefined) return undefined;
  return new EncodedChunk('logs', records.length, createdAtMs, bytes, records);
}
