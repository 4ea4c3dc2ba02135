import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  allSpans,
  attrs,
  decodeRequest,
  decodeTraces,
  encodeRequest,
  nanosToMs,
} from '../../tools/otlp/decode.js';

test('decodes what the OpenTelemetry JS protobuf serializer writes', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'decode-check', 'faas.max_memory': 134217728 }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('scope-a', '1.2.3');
  const startMs = Date.now();
  const parentSpan = tracer.startSpan('parent', { kind: SpanKind.SERVER, startTime: startMs });
  // Explicit parent context: no global context manager is registered here.
  const childSpan = tracer.startSpan(
    'child',
    { attributes: { 'k.str': 'v', 'k.int': 42, 'k.bool': true, 'k.dbl': 1.5, 'k.arr': ['a', 'b'] } },
    trace.setSpan(context.active(), parentSpan),
  );
  childSpan.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  childSpan.end();
  parentSpan.end(startMs + 250);
  await provider.forceFlush();
  const finished = exporter.getFinishedSpans();
  assert.equal(finished.length, 2);

  const bytes = ProtobufTraceSerializer.serializeRequest(finished);
  assert.ok(bytes);
  const req = decodeTraces(bytes);
  const spans = allSpans(req);
  assert.equal(spans.length, 2);

  const parent = spans.find((s) => s.name === 'parent');
  const child = spans.find((s) => s.name === 'child');
  assert.ok(parent && child);
  const parentCtx = finished.find((s) => s.name === 'parent')?.spanContext();
  assert.equal(parent.traceId, parentCtx?.traceId);
  assert.equal(parent.spanId, parentCtx?.spanId);
  assert.match(parent.traceId, /^[0-9a-f]{32}$/);
  assert.equal(parent.parentSpanId, '');
  assert.equal(child.parentSpanId, parent.spanId);
  assert.equal(child.traceId, parent.traceId);
  assert.equal(parent.kind, 2);
  assert.equal(typeof parent.startTimeUnixNano, 'string');
  assert.equal(nanosToMs(parent.startTimeUnixNano), startMs);
  assert.equal(nanosToMs(parent.endTimeUnixNano) - nanosToMs(parent.startTimeUnixNano), 250);
  assert.deepEqual(child.status, { code: 2, message: 'boom' });
  assert.deepEqual(attrs(child.attributes), {
    'k.str': 'v',
    'k.int': 42,
    'k.bool': true,
    'k.dbl': 1.5,
    'k.arr': ['a', 'b'],
  });
  assert.equal(parent.resource['service.name'], 'decode-check');
  assert.equal(parent.resource['faas.max_memory'], 134217728);
  assert.equal(parent.scope?.name, 'scope-a');
  assert.equal(parent.scope?.version, '1.2.3');
  await provider.shutdown();
});

test('encodeRequest and decodeRequest round-trip hex ids and 64-bit strings', () => {
  const input = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: '0af7651916cd43dd8448eb211c80319c',
                spanId: 'b7ad6b7169203331',
                parentSpanId: '00f067aa0ba902b7',
                name: 'x',
                startTimeUnixNano: '1700000000123456789',
                endTimeUnixNano: '1700000000223456789',
              },
            ],
          },
        ],
      },
    ],
  };
  const [span] = allSpans(decodeRequest('traces', encodeRequest('traces', input)));
  assert.ok(span);
  assert.equal(span.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(span.parentSpanId, '00f067aa0ba902b7');
  assert.equal(span.startTimeUnixNano, '1700000000123456789');
});

test('a truncated request fails to decode', () => {
  const bytes = encodeRequest('logs', {
    resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'hello world' } }] }] }],
  });
  assert.throws(() => decodeRequest('logs', bytes.subarray(0, bytes.length - 3)));
});
