// Real encoded chunks for pipeline tests and benchmarks, built from OTLP/JSON-like objects with the
// test-side schema: what producers would hand the pipeline.

import type { OtlpJsonRequest, Signal, TelemetryChunk } from '../../../src/model/chunk.js';
import { encodeRequest } from '../../../tools/otlp/decode.js';

let spanCounter = 0;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}

function chunkOf(
  signal: Signal,
  request: OtlpJsonRequest,
  items: number,
  createdAtMs: number,
): TelemetryChunk {
  const protobuf = encodeRequest(signal, request);
  return {
    signal,
    items,
    bytes: protobuf.byteLength,
    createdAtMs,
    protobuf,
    json: () => request,
  };
}

export interface SpanChunkOptions {
  createdAtMs?: number;
  /** Pads each span with an attribute of this many bytes (to build large payloads). */
  padBytes?: number;
  service?: string;
}

/** A traces chunk with `count` spans; span names are unique (span-<n>) so tests can check delivery. */
export function spanChunk(count: number, options: SpanChunkOptions = {}): TelemetryChunk {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const spans = [];
  for (let i = 0; i < count; i++) {
    const n = ++spanCounter;
    const attributes = [{ key: 'test.index', value: { intValue: String(n) } }];
    if (options.padBytes)
      attributes.push({ key: 'test.pad', value: { stringValue: 'x'.repeat(options.padBytes) } } as never);
    spans.push({
      traceId: hex(n, 16).padStart(32, '0'),
      spanId: hex(n, 16),
      name: `span-${n}`,
      kind: 2,
      startTimeUnixNano: String(nowNs),
      endTimeUnixNano: String(nowNs + 1_000_000n),
      attributes,
    });
  }
  const request = {
    resourceSpans: [
      {
        resource: {
          attributes: [{ key: 'service.name', value: { stringValue: options.service ?? 'test-fn' } }],
        },
        scopeSpans: [{ scope: { name: 'test' }, spans }],
      },
    ],
  };
  return chunkOf('traces', request, count, options.createdAtMs ?? Date.now());
}

export function logChunk(count: number, createdAtMs = Date.now()): TelemetryChunk {
  const nowNs = String(BigInt(Date.now()) * 1_000_000n);
  const logRecords = Array.from({ length: count }, (_, i) => ({
    timeUnixNano: nowNs,
    severityNumber: 9,
    body: { stringValue: `line ${i}` },
  }));
  const request = {
    resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ scope: { name: 'test' }, logRecords }] }],
  };
  return chunkOf('logs', request, count, createdAtMs);
}

export interface MetricChunkOptions {
  temporality: 'delta' | 'cumulative';
  /** Data points (one sum metric with this many attribute sets). */
  points?: number;
  padBytes?: number;
  createdAtMs?: number;
}

/** A metrics chunk with one monotonic sum and one histogram, both of the given temporality. */
export function metricChunk(options: MetricChunkOptions): TelemetryChunk {
  const temporality = options.temporality === 'delta' ? 1 : 2;
  const points = options.points ?? 1;
  const startNs = String(BigInt(Date.now() - 1000) * 1_000_000n);
  const endNs = String(BigInt(Date.now()) * 1_000_000n);
  const sumPoints = Array.from({ length: points }, (_, i) => ({
    attributes: [
      { key: 'i', value: { intValue: String(i) } },
      ...(options.padBytes ? [{ key: 'pad', value: { stringValue: 'y'.repeat(options.padBytes) } }] : []),
    ],
    startTimeUnixNano: startNs,
    timeUnixNano: endNs,
    asInt: '1',
  }));
  const request = {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'cloud.provider', value: { stringValue: 'aws' } }] },
        scopeMetrics: [
          {
            scope: { name: 'test' },
            metrics: [
              {
                name: 'faas.invocations',
                unit: '{invocation}',
                sum: { dataPoints: sumPoints, aggregationTemporality: temporality, isMonotonic: true },
              },
              {
                name: 'faas.invoke_duration',
                unit: 's',
                histogram: {
                  aggregationTemporality: temporality,
                  dataPoints: [
                    {
                      startTimeUnixNano: startNs,
                      timeUnixNano: endNs,
                      count: '1',
                      sum: 0.01,
                      bucketCounts: ['0', '1', '0'],
                      explicitBounds: [0.005, 0.01],
                    },
                  ],
                },
              },
            ],
          },
        ],
      },
    ],
  };
  return chunkOf('metrics', request, points + 1, options.createdAtMs ?? Date.now());
}

/** Span names inside a decoded traces request list, for delivery checks. */
export function spanNames(requests: { decoded: unknown }[]): string[] {
  const names: string[] = [];
  for (const r of requests) {
    const decoded = r.decoded as { resourceSpans?: { scopeSpans: { spans: { name: string }[] }[] }[] };
    for (const rs of decoded.resourceSpans ?? [])
      for (const ss of rs.scopeSpans) for (const s of ss.spans) names.push(s.name);
  }
  return names;
}
