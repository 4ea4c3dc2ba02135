// The OTLP/gRPC transport of the local receiver: real SDK exporters (the OpenTelemetry Python SDK's
// gRPC exporter and the JS one) as the function, then the protocol's edges with a bare HTTP/2
// client: gzip, each of the three services, bad framing, bad protobuf, sizes, content types, and
// back-pressure answered with RESOURCE_EXHAUSTED/UNAVAILABLE and OTLP RetryInfo.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type IncomingHttpHeaders } from 'node:http2';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import type { ChunkSink, TelemetryChunk } from '../../src/model/chunk.js';
import type { Admission } from '../../src/receiver/otlp-receiver.js';
import { OtlpReceiver } from '../../src/receiver/otlp-receiver.js';
import type { WireResourceSpans } from '../../src/receiver/otlp-messages.js';
import {
  allLogRecords,
  allMetrics,
  allSpans,
  decodeLogs,
  decodeMetrics,
  decodeTraces,
  encodeRequest,
} from '../../tools/otlp/decode.js';
import { pythonPath } from '../support/python/python-env.js';

const TRACE_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const METRICS_METHOD = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';
const LOGS_METHOD = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const PY_EXPORT = join(import.meta.dirname, '../support/python/otlp_grpc_export.py');

class ListSink implements ChunkSink {
  chunks: TelemetryChunk[] = [];
  enqueue(chunk: TelemetryChunk): void {
    this.chunks.push(chunk);
  }
  take(): TelemetryChunk[] {
    return this.chunks.splice(0);
  }
}

function frame(message: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + message.byteLength);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, 5);
  return out;
}

interface GrpcAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer. */
  grpcStatus: number | undefined;
  grpcMessage: string;
}

async function call(
  port: number,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<GrpcAnswer> {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    return await new Promise<GrpcAnswer>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      let responseHeaders: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders = {};
      const parts: Buffer[] = [];
      req.on('response', (h) => {
        responseHeaders = h;
      });
      req.on('trailers', (t) => {
        trailers = t;
      });
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('error', reject);
      req.on('close', () => {
        const status = trailers['grpc-status'] ?? responseHeaders['grpc-status'];
        resolve({
          status: Number(responseHeaders[':status']),
          headers: responseHeaders,
          trailers,
          body: Buffer.concat(parts),
          grpcStatus: status === undefined ? undefined : Number(status),
          grpcMessage: decodeURIComponent(
            String(trailers['grpc-message'] ?? responseHeaders['grpc-message'] ?? ''),
          ),
        });
      });
      req.end(body);
    });
  } finally {
    session.close();
  }
}

/** google.rpc.Status with RetryInfo details, decoded with a schema of its own. */
function decodeStatusDetails(base64: string): { code: number; message: string; retryDelaySeconds?: number } {
  const root = protobuf.Root.fromJSON({
    nested: {
      Status: {
        fields: {
          code: { type: 'int32', id: 1 },
          message: { type: 'string', id: 2 },
          details: { rule: 'repeated', type: 'Any', id: 3 },
        },
      },
      Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
      RetryInfo: { fields: { retry_delay: { type: 'Duration', id: 1 } } },
      Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
    },
  });
  const status = root
    .lookupType('Status')
    .toObject(root.lookupType('Status').decode(Buffer.from(base64, 'base64')), {
      longs: Number,
      defaults: true,
    }) as { code: number; message: string; details: { type_url: string; value: Uint8Array }[] };
  const retry = status.details.find((d) => d.type_url === 'type.googleapis.com/google.rpc.RetryInfo');
  if (!retry) return { code: status.code, message: status.message };
  const info = root.lookupType('RetryInfo').toObject(root.lookupType('RetryInfo').decode(retry.value), {
    longs: Number,
  }) as { retry_delay: { seconds: number } };
  return { code: status.code, message: status.message, retryDelaySeconds: info.retry_delay.seconds };
}

const SPANS_REQUEST = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fn' } }] },
      scopeSpans: [
        {
          spans: [
            {
              traceId: Buffer.alloc(16, 1),
              spanId: Buffer.alloc(8, 2),
              name: 'op',
              kind: 2,
              startTimeUnixNano: '1700000000000000000',
              endTimeUnixNano: '1700000000100000000',
            },
          ],
        },
      ],
    },
  ],
};

describe('OTLP/gRPC receiver', () => {
  const sink = new ListSink();
  let admission: Admission = { accept: true };
  const observed: (readonly WireResourceSpans[])[] = [];
  const receiver = new OtlpReceiver({
    sink,
    port: 0,
    grpc: { port: 0 },
    admit: () => admission,
    correlator: {
      observeResourceSpans: (rs) => {
        observed.push(rs);
        return { modified: false };
      },
    },
    limits: { maxBodyBytes: 256 * 1024, maxDecompressedBytes: 512 * 1024 },
  });
  let port = 0;

  before(async () => {
    await receiver.start();
    const bound = await receiver.startGrpc();
    assert.ok(bound);
    port = bound.port;
    assert.ok(bound.hosts.includes('127.0.0.1'));
  });
  after(() => receiver.stop());

  for (const compression of ['none', 'gzip']) {
    test(`the Python SDK's OTLP/gRPC exporter (compression ${compression}) delivers its spans`, async () => {
      const { stdout } = await promisify(execFile)(
        pythonPath(),
        [PY_EXPORT, `127.0.0.1:${port}`, '4', compression],
        { timeout: 60_000 },
      );
      const sent = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
        result: string;
        traceId: string;
        spanIds: string[];
      };
      assert.equal(sent.result, 'success');
      const chunks = sink.take();
      assert.equal(chunks.length, 1);
      const spans = allSpans(decodeTraces((chunks[0] as TelemetryChunk).protobuf));
      assert.deepEqual(spans.map((s) => s.spanId).sort(), [...sent.spanIds].sort());
      assert.ok(spans.every((s) => s.traceId === sent.traceId));
      // The correlator saw them, as it sees OTLP/HTTP spans.
      const seen = observed.splice(0).flat();
      assert.equal(seen.length, 1);
    });
  }

  test('the JS SDK OTLP/gRPC exporter delivers its spans', async () => {
    const req = createRequire(import.meta.url);
    // The exporter brings the SDK generation it is built for; its spans come from that SDK.
    const exporterPath = req.resolve('@opentelemetry/exporter-trace-otlp-grpc');
    const { OTLPTraceExporter } = req(
      exporterPath,
    ) as typeof import('@opentelemetry/exporter-trace-otlp-grpc');
    const sdk = createRequire(exporterPath)('@opentelemetry/sdk-trace') as {
      TracerProvider: new (
        config: object,
      ) => {
        getTracer(name: string): { startSpan(name: string): { end(): void } };
        forceFlush(): Promise<void>;
        shutdown(): Promise<void>;
      };
      SimpleSpanProcessor: new (exporter: unknown) => unknown;
    };
    const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}`, compression: 'gzip' as never });
    const provider = new sdk.TracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor({ exporter })] });
    const tracer = provider.getTracer('js-grpc');
    tracer.startSpan('one').end();
    tracer.startSpan('two').end();
    await provider.forceFlush();
    await provider.shutdown();
    const names = sink
      .take()
      .flatMap((c) => allSpans(decodeTraces(c.protobuf)))
      .map((s) => s.name)
      .sort();
    assert.deepEqual(names, ['one', 'two']);
    observed.splice(0);
  });

  test('metrics and logs services, gzip-compressed messages', async () => {
    const metrics = encodeRequest('metrics', {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'requests',
                  sum: {
                    aggregationTemporality: 1,
                    isMonotonic: true,
                    dataPoints: [{ asInt: '3' }, { asInt: '4' }],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    const m = await call(port, METRICS_METHOD, frame(gzipSync(metrics), true), { 'grpc-encoding': 'gzip' });
    assert.equal(m.grpcStatus, 0, m.grpcMessage);
    assert.equal(m.headers['content-type'], 'application/grpc');
    assert.equal(m.body.readUInt32BE(1), m.body.length - 5, 'one framed response message');
    const logs = encodeRequest('logs', {
      resourceLogs: [
        { scopeLogs: [{ logRecords: [{ body: { stringValue: 'hello' }, severityNumber: 9 }] }] },
      ],
    });
    const l = await call(port, LOGS_METHOD, frame(logs));
    assert.equal(l.grpcStatus, 0, l.grpcMessage);
    const [mc, lc, ...rest] = sink.take();
    assert.equal(rest.length, 0);
    assert.equal(allMetrics(decodeMetrics((mc as TelemetryChunk).protobuf))[0]?.name, 'requests');
    assert.equal(mc?.items, 2);
    assert.equal(allLogRecords(decodeLogs((lc as TelemetryChunk).protobuf))[0]?.body?.stringValue, 'hello');
    assert.equal(receiver.stats().grpcRequests >= 2, true);
  });

  test('bad input gets a gRPC status and costs only itself', async () => {
    const good = frame(encodeRequest('traces', SPANS_REQUEST));
    const cases: {
      name: string;
      path?: string;
      body: Buffer;
      headers?: Record<string, string>;
      code: number;
    }[] = [
      { name: 'not protobuf', body: frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])), code: 3 },
      { name: 'truncated frame', body: good.subarray(0, good.length - 3), code: 13 },
      { name: 'two messages', body: Buffer.concat([good, good]), code: 13 },
      { name: 'no message', body: Buffer.alloc(0), code: 13 },
      { name: 'bad flag', body: Buffer.from([7, 0, 0, 0, 0]), code: 13 },
      { name: 'compressed without encoding', body: frame(gzipSync(Buffer.from('x')), true), code: 13 },
      {
        name: 'not gzip',
        body: frame(Buffer.from('not gzip'), true),
        headers: { 'grpc-encoding': 'gzip' },
        code: 13,
      },
      { name: 'unknown encoding', body: good, headers: { 'grpc-encoding': 'snappy' }, code: 12 },
      {
        name: 'unknown method',
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Nope',
        body: good,
        code: 12,
      },
      { name: 'message over the limit', body: frame(Buffer.alloc(300 * 1024)), code: 8 },
      {
        name: 'decompresses over the limit',
        body: frame(gzipSync(Buffer.alloc(600 * 1024)), true),
        headers: { 'grpc-encoding': 'gzip' },
        code: 8,
      },
    ];
    for (const c of cases) {
      const answer = await call(port, c.path ?? TRACE_METHOD, c.body, c.headers);
      assert.equal(answer.status, 200, c.name);
      assert.equal(answer.grpcStatus, c.code, `${c.name}: ${answer.grpcMessage}`);
      assert.ok(answer.grpcMessage.length > 0, c.name);
      // Not retryable: no RetryInfo.
      const details = decodeStatusDetails(String(answer.headers['grpc-status-details-bin']));
      assert.equal(details.code, c.code);
      assert.equal(details.retryDelaySeconds, undefined, c.name);
    }
    // Not gRPC at all: a plain HTTP answer.
    const json = await call(port, TRACE_METHOD, good, { 'content-type': 'application/json' });
    assert.equal(json.status, 415);
    // The server is still fine.
    const ok = await call(port, TRACE_METHOD, good);
    assert.equal(ok.grpcStatus, 0);
    assert.equal(sink.take().length, 1);
    observed.splice(0);
    const refused = receiver.stats().refused;
    assert.ok(
      refused['bad-data'] >= 7 && refused['too-large'] >= 2 && refused['unsupported-media-type'] >= 2,
    );
  });

  test('back-pressure: UNAVAILABLE or RESOURCE_EXHAUSTED with RetryInfo', async () => {
    const good = frame(encodeRequest('traces', SPANS_REQUEST));
    try {
      admission = { accept: false, status: 503, retryAfterSeconds: 2, reason: 'export queue full' };
      const full = await call(port, TRACE_METHOD, good);
      assert.equal(full.grpcStatus, 14); // UNAVAILABLE
      assert.match(full.grpcMessage, /export queue full/);
      assert.deepEqual(decodeStatusDetails(String(full.headers['grpc-status-details-bin'])), {
        code: 14,
        message: 'export queue full',
        retryDelaySeconds: 2,
      });
      admission = { accept: false, status: 429, retryAfterSeconds: 1, reason: 'over the memory budget' };
      const over = await call(port, TRACE_METHOD, good);
      assert.equal(over.grpcStatus, 8);
      assert.equal(decodeStatusDetails(String(over.headers['grpc-status-details-bin'])).retryDelaySeconds, 1);
      assert.equal(sink.take().length, 0);
    } finally {
      admission = { accept: true };
    }
  });
});

describe('OTLP/gRPC start-up cost', () => {
  test('node:http2 is loaded by the first connection, not by binding the port', async () => {
    // A fresh process: this test file loads node:http2 itself.
    const script = [
      "import { connect } from 'node:net';",
      `import { OtlpReceiver } from ${JSON.stringify(join(import.meta.dirname, '../../src/receiver/otlp-receiver.ts'))};`,
      "const loaded = () => process.moduleLoadList.includes('NativeModule http2');",
      'const r = new OtlpReceiver({ sink: { enqueue() {} }, port: 0, grpc: { port: 0 } });',
      'await r.start();',
      'const bound = await r.startGrpc();',
      'const afterBind = loaded();',
      "await new Promise((resolve) => { const s = connect(bound.port, '127.0.0.1', () => setTimeout(() => { s.destroy(); resolve(); }, 50)); });",
      'console.log(JSON.stringify({ afterBind, afterConnection: loaded() }));',
      'await r.stop();',
    ].join('\n');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 60_000, cwd: join(import.meta.dirname, '../..') },
    );
    assert.deepEqual(JSON.parse(stdout.trim()), { afterBind: false, afterConnection: true });
  });
});

describe('OTLP/gRPC transport off', () => {
  test('startGrpc binds nothing without the grpc option', async () => {
    const receiver = new OtlpReceiver({ sink: new ListSink(), port: 0 });
    await receiver.start();
    try {
      assert.equal(await receiver.startGrpc(), undefined);
      assert.equal(receiver.grpcPort, undefined);
    } finally {
      await receiver.stop();
    }
  });
});
