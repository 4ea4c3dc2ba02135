// The function's side as users run it: the OpenTelemetry JS SDK's own OTLP/HTTP exporters (protobuf
// and JSON, plain and gzip) export to the receiver over loopback, and what reaches the pipeline
// decodes back to what was sent.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { context, SeverityNumber, trace } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as OTLPTraceJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ChunkSink, Signal, TelemetryChunk } from '../../src/model/chunk.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  attrs,
  dataPoints,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  plainValue,
} from '../../tools/otlp/decode.js';

class ListSink implements ChunkSink {
  chunks: TelemetryChunk[] = [];
  enqueue(chunk: TelemetryChunk): void {
    this.chunks.push(chunk);
  }
  take(signal: Signal): TelemetryChunk[] {
    const mine = this.chunks.filter((c) => c.signal === signal);
    this.chunks = this.chunks.filter((c) => c.signal !== signal);
    return mine;
  }
}

/** Collects on demand, like a reader at the end of an invocation. */
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const resource = resourceFromAttributes({ 'service.name': 'orders-fn', 'faas.name': 'orders-fn' });

async function traceWith(
  exporter: SpanExporter,
  label: string,
): Promise<{ traceId: string; spanIds: string[] }> {
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('orders', '2.0.0');
  const handler = tracer.startSpan(`${label} handler`, { attributes: { 'faas.invocation_id': 'req-1' } });
  const db = tracer.startSpan(
    `${label} db`,
    { attributes: { 'db.rows': 3 } },
    trace.setSpan(context.active(), handler),
  );
  db.end();
  handler.end();
  await provider.forceFlush();
  await provider.shutdown();
  return {
    traceId: handler.spanContext().traceId,
    spanIds: [handler.spanContext().spanId, db.spanContext().spanId],
  };
}

describe('the OpenTelemetry JS SDK exporting to the receiver', () => {
  const sink = new ListSink();
  const receiver = new OtlpReceiver({ sink, port: 0 });
  let base = '';

  before(async () => {
    const { port } = await receiver.start();
    // localhost: the SDK's default host, which may resolve to ::1 or 127.0.0.1.
    base = `http://localhost:${port}`;
  });
  after(() => receiver.stop());

  for (const variant of [
    { name: 'protobuf', make: () => new OTLPTraceExporter({ url: `${base}/v1/traces` }) },
    {
      name: 'protobuf+gzip',
      make: () => new OTLPTraceExporter({ url: `${base}/v1/traces`, compression: CompressionAlgorithm.GZIP }),
    },
    { name: 'json', make: () => new OTLPTraceJsonExporter({ url: `${base}/v1/traces` }) },
  ]) {
    test(`traces over ${variant.name}`, async () => {
      const sent = await traceWith(variant.make(), variant.name);
      const chunks = sink.take('traces');
      assert.ok(chunks.length >= 1);
      const spans = chunks.flatMap((c) => allSpans(decodeTraces(c.protobuf)));
      assert.equal(
        chunks.reduce((n, c) => n + c.items, 0),
        2,
      );
      assert.deepEqual(new Set(spans.map((s) => s.spanId)), new Set(sent.spanIds));
      const handler = spans.find((s) => s.name === `${variant.name} handler`);
      const db = spans.find((s) => s.name === `${variant.name} db`);
      assert.ok(handler && db);
      assert.equal(handler.traceId, sent.traceId);
      assert.equal(db.parentSpanId, handler.spanId);
      assert.equal(attrs(handler.attributes)['faas.invocation_id'], 'req-1');
      assert.equal(attrs(db.attributes)['db.rows'], 3);
      assert.equal(handler.resource['service.name'], 'orders-fn');
      assert.equal(handler.scope?.name, 'orders');
      assert.equal(handler.scope?.version, '2.0.0');
    });
  }

  test('logs over protobuf+gzip', async () => {
    const provider = new LoggerProvider({
      resource,
      processors: [
        new SimpleLogRecordProcessor({
          exporter: new OTLPLogExporter({ url: `${base}/v1/logs`, compression: CompressionAlgorithm.GZIP }),
        }),
      ],
    });
    const logger = provider.getLogger('orders-log');
    logger.emit({
      body: 'order placed',
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      attributes: { order: 7 },
    });
    logger.emit({ body: { nested: 'map' }, severityNumber: SeverityNumber.ERROR });
    await provider.forceFlush();
    await provider.shutdown();
    const chunks = sink.take('logs');
    const records = chunks.flatMap((c) => allLogRecords(decodeLogs(c.protobuf)));
    assert.equal(
      chunks.reduce((n, c) => n + c.items, 0),
      2,
    );
    const placed = records.find((r) => plainValue(r.body) === 'order placed');
    assert.ok(placed);
    assert.equal(placed.severityNumber, 9);
    assert.equal(placed.severityText, 'INFO');
    assert.deepEqual(attrs(placed.attributes), { order: 7 });
    assert.equal(placed.resource['service.name'], 'orders-fn');
    assert.ok(
      records.some(
        (r) => r.severityNumber === 17 && (plainValue(r.body) as { nested?: string }).nested === 'map',
      ),
    );
  });

  test('metrics over protobuf', async () => {
    const reader = new OnDemandReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
    const provider = new MeterProvider({ resource, readers: [reader] });
    const meter = provider.getMeter('orders-metrics');
    meter.createCounter('orders.placed').add(5, { region: 'eu' });
    meter.createCounter('orders.placed.other').add(1);
    meter.createHistogram('orders.latency', { unit: 's' }).record(0.2);
    const { resourceMetrics } = await reader.collect();
    const exporter = new OTLPMetricExporter({ url: `${base}/v1/metrics` });
    const result = await new Promise<{ code: number; error?: Error }>((resolve) =>
      exporter.export(resourceMetrics, resolve),
    );
    assert.equal(result.code, 0, result.error?.message);
    await exporter.shutdown();
    await provider.shutdown();
    const chunks = sink.take('metrics');
    assert.equal(
      chunks.reduce((n, c) => n + c.items, 0),
      3,
    );
    const metrics = chunks.flatMap((c) => allMetrics(decodeMetrics(c.protobuf)));
    const placed = metrics.find((m) => m.name === 'orders.placed');
    assert.ok(placed?.sum);
    assert.equal(placed.sum.aggregationTemporality, 1);
    const [point] = dataPoints(placed);
    assert.deepEqual(attrs(point?.attributes), { region: 'eu' });
    assert.equal(
      (point as { asDouble?: number; asInt?: string }).asDouble ??
        Number((point as { asInt?: string }).asInt),
      5,
    );
    const latency = metrics.find((m) => m.name === 'orders.latency');
    assert.equal(latency?.unit, 's');
    assert.equal(latency?.histogram?.dataPoints[0]?.count, '1');
  });

  test('the receiver counted every item it accepted', () => {
    const stats = receiver.stats();
    assert.equal(stats.signals.traces.acceptedItems, 6);
    assert.equal(stats.signals.logs.acceptedItems, 2);
    assert.equal(stats.signals.metrics.acceptedItems, 3);
  });
});
