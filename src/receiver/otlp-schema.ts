// The OTLP message types the receiver decodes and encodes with. They come from the JSON descriptor
// generated from proto/ (generate-descriptor.mjs), loaded with protobufjs/light on the first request
// only: a function that never exports OTLP never pays for it at cold start.

import type { INamespace, Type } from 'protobufjs';
import type { Signal } from '../model/chunk.js';

export interface OtlpSchema {
  /** Export{Trace,Metrics,Logs}ServiceRequest. */
  readonly request: Readonly<Record<Signal, Type>>;
  /** Export{Trace,Metrics,Logs}ServiceResponse. */
  readonly response: Readonly<Record<Signal, Type>>;
  /** The item inside each signal's ResourceX/ScopeX: Span, Metric, LogRecord. */
  readonly item: Readonly<Record<Signal, Type>>;
  /** google.rpc.Status, the error body. */
  readonly status: Type;
}

const REQUEST_NAMES: Record<Signal, string> = {
  traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
};

const RESPONSE_NAMES: Record<Signal, string> = {
  traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
};

const ITEM_NAMES: Record<Signal, string> = {
  traces: 'opentelemetry.proto.trace.v1.Span',
  metrics: 'opentelemetry.proto.metrics.v1.Metric',
  logs: 'opentelemetry.proto.logs.v1.LogRecord',
};

let loaded: OtlpSchema | undefined;
let loading: Promise<OtlpSchema> | undefined;

/** The schema, loading it on first use. Concurrent first calls share one load. */
export function loadOtlpSchema(): Promise<OtlpSchema> {
  if (loaded) return Promise.resolve(loaded);
  loading ??= (async () => {
    const [{ default: protobuf }, { default: descriptor }] = await Promise.all([
      import('protobufjs/light.js'),
      import('./otlp-descriptor.json', { with: { type: 'json' } }),
    ]);
    if (!protobuf.util.Long) {
      // Without long.js, 64-bit fields decode to doubles and nanosecond timestamps lose precision.
      throw new Error('protobufjs has no 64-bit integer support (long.js missing from the bundle)');
    }
    const root = protobuf.Root.fromJSON(descriptor as INamespace);
    root.resolveAll();
    const pick = (names: Record<Signal, string>): Record<Signal, Type> => ({
      traces: root.lookupType(names.traces),
      metrics: root.lookupType(names.metrics),
      logs: root.lookupType(names.logs),
    });
    loaded = {
      request: pick(REQUEST_NAMES),
      response: pick(RESPONSE_NAMES),
      item: pick(ITEM_NAMES),
      status: root.lookupType('google.rpc.Status'),
    };
    return loaded;
  })();
  return loading;
}

/** The schema if a request already loaded it. */
export function loadedOtlpSchema(): OtlpSchema | undefined {
  return loaded;
}
