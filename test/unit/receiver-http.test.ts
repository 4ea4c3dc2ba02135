import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import { context, trace } from '@opentelemetry/api';
import {
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ChunkSink, TelemetryChunk } from '../../src/model/chunk.js';
import type { Admission } from '../../src/receiver/otlp-receiver.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';
import type { SpanCorrelator } from '../../src/receiver/trace-correlation.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  decodeLogs,
  decodeMetrics,
  decodeResponse,
  decodeStatus,
  decodeTraces,
  encodeRequest,
  plainValue,
} from '../../tools/otlp/decode.js';
import { post } from '../support/http-post.js';

class ListSink implements ChunkSink {
  chunks: TelemetryChunk[] = [];
  enqueue(chunk: TelemetryChunk): void {
    this.chunks.push(chunk);
  }
  take(): TelemetryChunk[] {
    return this.chunks.splice(0);
  }
}

async function makeSpans(count: number): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('receiver-test');
  const root = tracer.startSpan('root');
  const ctx = trace.setSpan(context.active(), root);
  for (let i = 1; i < count; i++) tracer.startSpan(`child-${i}`, { attributes: { i } }, ctx).end();
  root.end();
  await provider.forceFlush();
  const spans = exporter.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

const PROTOBUF = { 'content-type': 'application/x-protobuf' };
const JSON_TYPE = { 'content-type': 'application/json' };

describe('OTLP/HTTP receiver', () => {
  const sink = new ListSink();
  let admission: Admission = { accept: true };
  let correlator: SpanCorrelator | undefined;
  const receiver = new OtlpReceiver({
    sink,
    port: 0,
    admit: () => admission,
    correlator: { observeResourceSpans: (rs) => correlator?.observeResourceSpans(rs) ?? { modified: false } },
    limits: { maxBodyBytes: 4 * 1024 * 1024, maxDecompressedBytes: 4 * 1024 * 1024 },
  });
  let port = 0;
  let hosts: string[] = [];

  before(async () => {
    ({ port, hosts } = await receiver.start());
  });
  after(() => receiver.stop());

  test('accepts protobuf traces and hands over the original bytes', async () => {
    const spans = await makeSpans(3);
    const body = ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
    const res = await post(port, '/v1/traces', { headers: PROTOBUF, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/x-protobuf');
    assert.equal(decodeResponse('traces', res.body).partialSuccess, null);
    const [chunk, ...rest] = sink.take();
    assert.ok(chunk);
    assert.equal(rest.length, 0);
    assert.equal(chunk.signal, 'traces');
    assert.equal(chunk.items, 3);
    assert.equal(chunk.bytes, body.byteLength);
    assert.deepEqual(Buffer.from(chunk.protobuf), Buffer.from(body));
    const names = allSpans(decodeTraces(chunk.protobuf)).map((s) => s.name);
    assert.deepEqual(names.sort(), ['child-1', 'child-2', 'root']);
  });

  test('accepts OTLP/JSON traces, converts them to protobuf and answers in JSON', async () => {
    const spans = await makeSpans(2);
    const body = JsonTraceSerializer.serializeRequest(spans) as Uint8Array;
    const res = await post(port, '/v1/traces', { headers: JSON_TYPE, body });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body.toString()), {});
    const [chunk] = sink.take();
    assert.ok(chunk);
    assert.equal(chunk.items, 2);
    const decoded = allSpans(decodeTraces(chunk.protobuf));
    for (const sent of spans) {
      const got = decoded.find((s) => s.spanId === sent.spanContext().spanId);
      assert.ok(got, `span ${sent.name} arrived`);
      assert.equal(got.traceId, sent.spanContext().traceId);
      assert.equal(got.parentSpanId, sent.parentSpanContext?.spanId ?? '');
      assert.equal(got.name, sent.name);
    }
    // The chunk's JSON view uses OTLP/JSON conventions (hex ids, string 64-bit integers).
    const json = chunk.json() as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    const first = json.resourceSpans[0]?.scopeSpans[0]?.spans[0];
    assert.match(String(first?.traceId), /^[0-9a-f]{32}$/);
    assert.equal(typeof first?.startTimeUnixNano, 'string');
  });

  test('accepts gzip-compressed metrics and counts data points', async () => {
    const request = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fn' } }] },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'requests',
                  sum: {
                    aggregationTemporality: 1,
                    isMonotonic: true,
                    dataPoints: [
                      { asInt: '3', timeUnixNano: '1700000000000000000' },
                      { asInt: '4', timeUnixNano: '1700000000000000000' },
                    ],
                  },
                },
                {
                  name: 'latency',
                  histogram: {
                    aggregationTemporality: 1,
                    dataPoints: [{ count: '2', sum: 3, bucketCounts: ['1', '1'], explicitBounds: [1] }],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const body = gzipSync(encodeRequest('metrics', request));
    const res = await post(port, '/v1/metrics', {
      headers: { ...PROTOBUF, 'content-encoding': 'gzip' },
      body,
    });
    assert.equal(res.status, 200);
    const [chunk] = sink.take();
    assert.ok(chunk);
    assert.equal(chunk.items, 3);
    const metrics = allMetrics(decodeMetrics(chunk.protobuf));
    assert.deepEqual(
      metrics.map((m) => m.name),
      ['requests', 'latency'],
    );
    assert.equal(metrics[0]?.resource['service.name'], 'fn');
  });

  test('accepts deflate-compressed logs', async () => {
    const body = deflateSync(
      encodeRequest('logs', {
        resourceLogs: [
          { scopeLogs: [{ logRecords: [{ body: { stringValue: 'hello' }, severityNumber: 9 }] }] },
        ],
      }),
    );
    const res = await post(port, '/v1/logs', {
      headers: { ...PROTOBUF, 'content-encoding': 'deflate' },
      body,
    });
    assert.equal(res.status, 200);
    const [chunk] = sink.take();
    assert.ok(chunk);
    const [record] = allLogRecords(decodeLogs(chunk.protobuf));
    assert.equal(plainValue(record?.body), 'hello');
  });

  test('truncated protobuf is a 400 with a google.rpc.Status body', async () => {
    const body = ProtobufTraceSerializer.serializeRequest(await makeSpans(2)) as Uint8Array;
    const res = await post(port, '/v1/traces', {
      headers: PROTOBUF,
      body: body.subarray(0, body.length - 7),
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'application/x-protobuf');
    const status = decodeStatus(res.body);
    assert.equal(status.code, 3);
    assert.match(status.message, /not a valid protobuf ExportTraceServiceRequest/);
    assert.equal(sink.take().length, 0);
  });

  test('malformed JSON and bad hex ids are a 400 with a JSON Status body', async () => {
    let res = await post(port, '/v1/logs', { headers: JSON_TYPE, body: Buffer.from('{"resourceLogs": [') });
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.body.toString()).message, /OTLP\/JSON/);
    res = await post(port, '/v1/traces', {
      headers: JSON_TYPE,
      body: Buffer.from(
        JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'zz' }] }] }] }),
      ),
    });
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.body.toString()).message, /traceId "zz" is not hex/);
  });

  test('a JSON body may start with a byte order mark', async () => {
    const json = JSON.stringify({
      resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'bom' } }] }] }],
    });
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]);
    const res = await post(port, '/v1/logs', {
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    assert.equal(res.status, 200);
    const [chunk] = sink.take();
    assert.equal(plainValue(allLogRecords(decodeLogs((chunk as TelemetryChunk).protobuf))[0]?.body), 'bom');
  });

  test('a corrupt gzip body is a 400', async () => {
    const res = await post(port, '/v1/traces', {
      headers: { ...PROTOBUF, 'content-encoding': 'gzip' },
      body: Buffer.from('definitely not gzip'),
    });
    assert.equal(res.status, 400);
    assert.match(decodeStatus(res.body).message, /does not decompress/);
  });

  test('unsupported content type or encoding is a 415; other paths 404; other methods 405', async () => {
    let res = await post(port, '/v1/traces', {
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from('x'),
    });
    assert.equal(res.status, 415);
    assert.match(decodeStatus(res.body).message, /unsupported content type "text\/plain"/);
    res = await post(port, '/v1/traces', {
      headers: { ...PROTOBUF, 'content-encoding': 'zstd' },
      body: Buffer.from('x'),
    });
    assert.equal(res.status, 415);
    res = await post(port, '/v1/profiles', { headers: PROTOBUF, body: Buffer.alloc(0) });
    assert.equal(res.status, 404);
    res = await post(port, '/v1/traces', { method: 'GET' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
  });

  test('an empty request is a success and makes no chunk', async () => {
    const res = await post(port, '/v1/logs', { headers: PROTOBUF, body: Buffer.alloc(0) });
    assert.equal(res.status, 200);
    assert.equal(sink.take().length, 0);
  });

  test('spans without a valid identity are rejected as a partial success', async () => {
    const request = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'good' },
                { traceId: '0af76519', spanId: 'b7ad6b7169203332', name: 'short trace id' },
                {
                  traceId: '00000000000000000000000000000000',
                  spanId: 'b7ad6b7169203333',
                  name: 'zero trace id',
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await post(port, '/v1/traces', {
      headers: JSON_TYPE,
      body: Buffer.from(JSON.stringify(request)),
    });
    assert.equal(res.status, 200);
    const answer = JSON.parse(res.body.toString());
    assert.equal(answer.partialSuccess.rejectedSpans, '2');
    assert.match(answer.partialSuccess.errorMessage, /16-byte non-zero trace id/);
    const [chunk] = sink.take();
    assert.ok(chunk);
    assert.equal(chunk.items, 1);
    assert.deepEqual(
      allSpans(decodeTraces(chunk.protobuf)).map((s) => s.name),
      ['good'],
    );
    // Protobuf senders get the same answer in protobuf.
    const res2 = await post(port, '/v1/traces', {
      headers: PROTOBUF,
      body: encodeRequest('traces', request),
    });
    assert.equal(decodeResponse('traces', res2.body).partialSuccess?.rejectedSpans, '2');
    sink.take();
  });

  test('a correlator rewrite is re-encoded into the chunk', async () => {
    const spans = await makeSpans(1);
    correlator = {
      observeResourceSpans(resourceSpans) {
        for (const rs of resourceSpans) {
          for (const ss of rs.scopeSpans)
            for (const span of ss.spans) span.parentSpanId = Buffer.from('00f067aa0ba902b7', 'hex');
        }
        return { modified: true };
      },
    };
    try {
      const res = await post(port, '/v1/traces', {
        headers: PROTOBUF,
        body: ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array,
      });
      assert.equal(res.status, 200);
    } finally {
      correlator = undefined;
    }
    const [chunk] = sink.take();
    assert.ok(chunk);
    assert.equal(allSpans(decodeTraces(chunk.protobuf))[0]?.parentSpanId, '00f067aa0ba902b7');
  });

  test('a full pipeline answers 503 or 429 with Retry-After and reads nothing', async () => {
    const body = ProtobufLogsSerializer.serializeRequest([]) ?? new Uint8Array(0);
    admission = { accept: false, retryAfterSeconds: 2.2 };
    try {
      let res = await post(port, '/v1/logs', { headers: PROTOBUF, body });
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '3');
      assert.equal(decodeStatus(res.body).code, 14);
      admission = { accept: false, status: 429, reason: 'sender over its share' };
      res = await post(port, '/v1/logs', { headers: JSON_TYPE, body: Buffer.from('{}') });
      assert.equal(res.status, 429);
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(JSON.parse(res.body.toString()).message, 'sender over its share');
    } finally {
      admission = { accept: true };
    }
    assert.equal(sink.take().length, 0);
  });

  test('a gzip bomb is a 413, quickly and without inflating it', async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 });
    assert.ok(bomb.byteLength < 200_000);
    const before = process.memoryUsage();
    // CPU time, not wall-clock time: inflating is CPU work, and a loaded machine does not add to it.
    const cpuBefore = process.cpuUsage();
    const res = await post(port, '/v1/traces', {
      headers: { ...PROTOBUF, 'content-encoding': 'gzip' },
      body: bomb,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const elapsed = (cpu.user + cpu.system) / 1000;
    const afterMem = process.memoryUsage();
    assert.equal(res.status, 413);
    assert.match(decodeStatus(res.body).message, /decompressed request body exceeds/);
    assert.ok(elapsed < 2000, `took ${elapsed} ms of CPU`);
    // The limit is 4 MiB: the inflated bytes held must stay near it, far below 50 MB.
    const grown = afterMem.arrayBuffers - before.arrayBuffers;
    assert.ok(grown < 20 * 1024 * 1024, `array buffers grew by ${grown}`);
  });

  test('a 50 MB body is a 413, declared or streamed', async () => {
    const piece = Buffer.alloc(1024 * 1024);
    const pieces = function* () {
      for (let i = 0; i < 50; i++) yield piece;
    };
    let res = await post(port, '/v1/traces', {
      headers: { ...PROTOBUF, 'content-length': String(50 * piece.length) },
      body: pieces(),
    });
    assert.equal(res.status, 413);
    assert.match(decodeStatus(res.body).message, /request body of 52428800 bytes exceeds/);
    res = await post(port, '/v1/traces', { headers: PROTOBUF, body: pieces() });
    assert.equal(res.status, 413);
    assert.match(decodeStatus(res.body).message, /request body exceeds the 4194304-byte limit/);
    // The receiver still serves afterwards.
    res = await post(port, '/v1/logs', { headers: PROTOBUF, body: Buffer.alloc(0) });
    assert.equal(res.status, 200);
  });

  test('large requests are cut into chunks that concatenate back to the request', async () => {
    const small = new OtlpReceiver({
      sink,
      port: 0,
      hosts: ['127.0.0.1'],
      limits: { maxChunkBytes: 4096, maxChunkItems: 50 },
    });
    const { port: smallPort } = await small.start();
    try {
      const spans = await makeSpans(300);
      const body = ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
      assert.ok(body.byteLength > 4096 * 4);
      const res = await post(smallPort, '/v1/traces', { headers: PROTOBUF, body });
      assert.equal(res.status, 200);
      const chunks = sink.take();
      assert.ok(chunks.length >= body.byteLength / 4096, `${chunks.length} chunks`);
      for (const c of chunks) {
        assert.ok(c.items <= 50);
        assert.ok(c.bytes <= 4096 || c.items === 1, `chunk of ${c.bytes} bytes, ${c.items} items`);
        assert.equal(allSpans(decodeTraces(c.protobuf)).length, c.items);
      }
      assert.equal(
        chunks.reduce((n, c) => n + c.items, 0),
        300,
      );
      const joined = Buffer.concat(chunks.map((c) => c.protobuf));
      const ids = allSpans(decodeTraces(joined)).map((s) => s.spanId);
      assert.deepEqual(new Set(ids), new Set(spans.map((s) => s.spanContext().spanId)));
    } finally {
      await small.stop();
    }
  });

  test('force flush waits for the hook', async () => {
    let flushed = 0;
    const flushing = new OtlpReceiver({
      sink,
      port: 0,
      hosts: ['127.0.0.1'],
      onForceFlush: async () => {
        await new Promise((r) => setTimeout(r, 20));
        flushed++;
      },
    });
    const { port: flushPort } = await flushing.start();
    try {
      const res = await post(flushPort, '/v1/flush');
      assert.equal(res.status, 200);
      assert.equal(flushed, 1);
      assert.equal(flushing.stats().forceFlushes, 1);
    } finally {
      await flushing.stop();
    }
  });

  test('listens on ::1 too when the host has IPv6', async (t) => {
    if (!hosts.includes('::1')) {
      t.skip('no IPv6 loopback here');
      return;
    }
    const res = await post(port, '/v1/logs', { host: '::1', headers: PROTOBUF, body: Buffer.alloc(0) });
    assert.equal(res.status, 200);
  });

  test('counts what it accepted and refused', () => {
    const stats = receiver.stats();
    assert.ok(stats.signals.traces.acceptedItems >= 7);
    assert.ok(stats.signals.traces.rejectedItems >= 4);
    assert.ok(stats.refused['too-large'] >= 3);
    assert.ok(stats.refused['bad-data'] >= 3);
    assert.ok(stats.refused.throttled >= 2);
  });
});

describe('receiver start-up', () => {
  test('a taken port is a clear error', async () => {
    const first = new OtlpReceiver({ sink: new ListSink(), port: 0, hosts: ['127.0.0.1'] });
    const { port } = await first.start();
    try {
      const second = new OtlpReceiver({ sink: new ListSink(), port, hosts: ['127.0.0.1'] });
      await assert.rejects(second.start(), /cannot listen on 127\.0\.0\.1:\d+/);
    } finally {
      await first.stop();
    }
  });
});
