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
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { OtlpJsonRequest, Signal, TelemetryChunk } from '../model/chunk.js';
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

/** One ExportTraceServiceRequest for `spans`, all under `resource`; undefined if encoding failed. */
export function encodeSpans(spans: FinishedSpan[], resource: Resource): TelemetryChunk | undefined {
  let oldest = Number.POSITIVE_INFINITY;
  for (const span of spans) {
    span.resource = resource;
    if (span.endMs < oldest) oldest = span.endMs;
  }
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (bytes === undefined) return undefined;
  return new EncodedChunk('traces', spans.length, oldest, bytes, spans);
}

export function encodeMetrics(
  resourceMetrics: ResourceMetrics,
  points: number,
  createdAtMs: number,
): TelemetryChunk | undefined {
  const bytes = ProtobufMetricsSerializer.serializeRequest(resourceMetrics);
  if (bytes === undefined) return undefined;
  return new EncodedChunk('metrics', points, createdAtMs, bytes, resourceMetrics);
}

/** One ExportLogsServiceRequest for `records`; undefined if encoding failed. */
export function encodeLogs(records: ReadableLogRecord[], createdAtMs: number): TelemetryChunk | undefined {
  const bytes = ProtobufLogsSerializer.serializeRequest(records);
  if (bytes === undefined) return undefined;
  return new EncodedChunk('logs', records.length, createdAtMs, bytes, records);
}
