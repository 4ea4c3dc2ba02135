// The unit the pipeline queues and exports. Every producer (platform converter, local receiver,
// self-telemetry) hands over encoded OTLP requests: an Export*ServiceRequest is one repeated field,
// so protobuf requests concatenate byte-wise into one valid request. Batching is then a matter of
// picking chunks within the exporter's item and byte limits, without re-encoding.

export type Signal = 'traces' | 'metrics' | 'logs';

export const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];

export interface TelemetryChunk {
  readonly signal: Signal;
  /** Spans, metric data points or log records inside. */
  readonly items: number;
  /** Size of `protobuf`; the queue and batch budgets count these bytes. */
  readonly bytes: number;
  /** Epoch ms when the oldest item inside was produced; the flush manager bounds staleness by it. */
  readonly createdAtMs: number;
  /** An encoded Export{Trace,Metrics,Logs}ServiceRequest. */
  readonly protobuf: Uint8Array;
  /**
   * The same request as an OTLP/JSON object ({resourceSpans|resourceMetrics|resourceLogs: [...]}),
   * built only when an exporter asks for JSON.
   */
  json(): OtlpJsonRequest;
}

/** OTLP/JSON request object; the key depends on the signal. */
export type OtlpJsonRequest = { [key in 'resourceSpans' | 'resourceMetrics' | 'resourceLogs']?: unknown[] };

/** The OTLP/JSON top-level key of each signal. */
export const JSON_REQUEST_KEY: Record<Signal, 'resourceSpans' | 'resourceMetrics' | 'resourceLogs'> = {
  traces: 'resourceSpans',
  metrics: 'resourceMetrics',
  logs: 'resourceLogs',
};

/** Anything that produces chunks on demand at flush time (metric aggregations, spans held for correlation). */
export interface ChunkProducer {
  /**
   * Returns what is ready to export. `final` is true at SHUTDOWN or on an explicit drain: hand over
   * everything, nothing will be asked again.
   */
  collect(nowMs: number, final: boolean): TelemetryChunk[];
}

/** Where producers put finished chunks. */
export interface ChunkSink {
  enqueue(chunk: TelemetryChunk): void;
}
