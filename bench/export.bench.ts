// Export throughput on loopback: spans per second from the pipeline to a local OTLP sink (running in
// a child process, so it does not share our event loop), protobuf with and without gzip, and OTLP/JSON
// for comparison; bytes per request, compression ratio, flush latency and the worst event-loop stall
// during flushes (gzip of big bodies runs on the thread pool). Run:
//   node --import tsx bench/export.bench.ts [seconds-per-case=3] [spans-per-flush=10000]

import { writeFileSync, mkdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { sampleSpans } from './sample-spans.js';
import type { OtlpCompression, OtlpProtocol } from '../src/export/destination.js';
import type { OtlpJsonRequest, TelemetryChunk } from '../src/model/chunk.js';
import { ExportPipeline } from '../src/pipeline/export-pipeline.js';
import { startOtlpSink } from '../tools/otlp/sink.js';
import { destination } from '../test/support/fakes/destinations.js';

const SPANS_PER_CHUNK = 100;

if (process.argv[2] === '--sink') {
  // Sink side: count requests and wire bytes, answer 200.
  const sink = await startOtlpSink({ decode: false });
  process.on('message', (msg: string) => {
    if (msg === 'stats') {
      const wire = sink.requests.reduce((n, r) => n + r.wireBytes, 0);
      process.send?.({ requests: sink.requests.length, wireBytes: wire });
      sink.requests.length = 0;
    } else if (msg === 'close') {
      void sink.close().then(() => process.exit(0));
    }
  });
  process.send?.({ url: sink.url });
} else {
  await main();
}

function chunkOf(spans: ReadableSpan[]): TelemetryChunk {
  const protobuf = ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array;
  let json: OtlpJsonRequest | undefined;
  return {
    signal: 'traces',
    items: spans.length,
    bytes: protobuf.byteLength,
    createdAtMs: Date.now(),
    protobuf,
    json: () => {
      json ??= JSON.parse(
        Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array).toString('utf8'),
      );
      return json as OtlpJsonRequest;
    },
  };
}

interface CaseResult {
  case: string;
  spansPerSecond: number;
  requests: number;
  /** Protobuf-equivalent payload per request (the JSON body is larger). */
  protobufBytesPerRequest: number;
  wireBytesPerRequest: number;
  compressionRatio: number | undefined;
  flushMsAvg: number;
  eventLoopStallP99Ms: number;
  eventLoopStallMaxMs: number;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const spansPerFlush = Number(process.argv[3] ?? 10_000);
  const sinkProcess = fork(fileURLToPath(import.meta.url), ['--sink'], { execArgv: ['--import', 'tsx'] });
  const { url } = await new Promise<{ url: string }>((resolve) =>
    sinkProcess.once('message', (m) => resolve(m as { url: string })),
  );
  const stats = () =>
    new Promise<{ requests: number; wireBytes: number }>((resolve) => {
      sinkProcess.once('message', (m) => resolve(m as { requests: number; wireBytes: number }));
      sinkProcess.send('stats');
    });

  // Distinct spans in every chunk (fresh ids and timestamps), so compression sees realistic data.
  const chunksPerFlush = Math.max(1, Math.round(spansPerFlush / SPANS_PER_CHUNK));
  const template: TelemetryChunk[] = [];
  for (let i = 0; i < chunksPerFlush; i++) template.push(chunkOf(await sampleSpans(SPANS_PER_CHUNK)));
  const chunk = template[0] as TelemetryChunk;

  const cases: [string, OtlpProtocol, OtlpCompression][] = [
    ['protobuf+gzip', 'http/protobuf', 'gzip'],
    ['protobuf', 'http/protobuf', 'none'],
    ['json+gzip', 'http/json', 'gzip'],
  ];
  const results: CaseResult[] = [];
  for (const [name, protocol, compression] of cases) {
    const pipeline = new ExportPipeline({
      destinations: [
        destination('bench', url, { signals: ['traces'], protocol, compression, timeoutMs: 10_000 }),
      ],
      queue: { maxItems: 1_000_000, maxBytes: 1 << 30 },
      log: { debug() {}, info() {}, warn: console.warn, error: console.error },
    });
    // Warm-up (connections, JIT, lazily built JSON).
    for (const c of template) pipeline.enqueue(c);
    await pipeline.flush({ deadlineMs: Date.now() + 30_000, reason: 'warmup' });
    await stats();

    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    let exported = 0;
    let rawBytes = 0;
    let flushes = 0;
    let flushMs = 0;
    const started = performance.now();
    while (performance.now() - started < seconds * 1000) {
      for (const c of template) pipeline.enqueue(c);
      const report = await pipeline.flush({ deadlineMs: Date.now() + 30_000, reason: 'bench' });
      exported += report.exportedItems;
      rawBytes += report.exportedBytes;
      flushMs += report.durationMs;
      flushes++;
    }
    const elapsedS = (performance.now() - started) / 1000;
    loop.disable();
    const sink = await stats();
    pipeline.shutdown();
    results.push({
      case: name,
      spansPerSecond: Math.round(exported / elapsedS),
      requests: sink.requests,
      protobufBytesPerRequest: Math.round(rawBytes / Math.max(1, sink.requests)),
      wireBytesPerRequest: Math.round(sink.wireBytes / Math.max(1, sink.requests)),
      compressionRatio:
        protocol === 'http/protobuf'
          ? Number((rawBytes / Math.max(1, sink.wireBytes)).toFixed(2))
          : undefined,
      flushMsAvg: Number((flushMs / Math.max(1, flushes)).toFixed(1)),
      eventLoopStallP99Ms: Number((loop.percentile(99) / 1e6).toFixed(1)),
      eventLoopStallMaxMs: Number((loop.max / 1e6).toFixed(1)),
    });
  }
  sinkProcess.send('close');

  console.log(
    `export to a loopback sink: ${spansPerFlush} spans per flush in ${SPANS_PER_CHUNK}-span chunks ` +
      `(${chunk.bytes} B protobuf each), ${seconds} s per case`,
  );
  console.table(results);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/export.json', import.meta.url),
    JSON.stringify({ spansPerFlush, results }, null, 2),
  );
}
