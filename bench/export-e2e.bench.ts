// Export to a real OpenTelemetry Collector on loopback (OTLP/HTTP receiver, file exporter):
//  1. Throughput: real invocation telemetry (the PlatformConverter's spans and metrics for synthetic
//     invocations, converted before the clock starts) enqueued into an ExportPipeline pointed at the
//     collector and flushed; spans/s until the collector has answered, i.e. written them. The first
//     round is checked against the collector's files, so the figure counts delivered spans only.
//  2. End-of-invocation flush latency: one invocation's telemetry per flush, as a blocking flush does.
//  3. Bytes per invocation on the wire: the extension from the built layer in the Lambda simulator,
//     50 invocations of the logs fixture, measured at a proxy in front of the collector, with and
//     without gzip, with the adaptive strategy (back-to-back invocations) and with `end` (one flush
//     per invocation).
//
//   node --import tsx bench/export-e2e.bench.ts [--invocations N] [--seconds S] [--sim-invocations N]

import { mkdirSync, writeFileSync } from 'node:fs';
import type { OtlpCompression, OtlpProtocol } from '../src/export/destination.js';
import { PlatformConverter } from '../src/convert/index.js';
import type { InvokeEvent, TelemetryEvent } from '../src/lambda/telemetry-events.js';
import type { TelemetryChunk } from '../src/model/chunk.js';
import { ExportPipeline } from '../src/pipeline/export-pipeline.js';
import { type Collector, startCollector } from '../test/support/collector/collector.js';
import { extensionEnvironment } from '../test/support/e2e-harness.js';
import { startFaultProxy } from '../test/support/fakes/fault-proxy.js';
import { destination } from '../test/support/fakes/destinations.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const INVOCATIONS = arg('invocations', 5_000);
const SECONDS = arg('seconds', 3);
const SIM_INVOCATIONS = arg('sim-invocations', 50);
const LATENCY_SAMPLES = 200;
const COLLECT_EVERY = 20;

const T0 = Date.now() - 3_600_000;
const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api';
const QUIET = { debug() {}, info() {}, warn: console.warn, error: console.error };

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0').slice(-width);

/** One warm invocation's platform records, with ids and timings varying as in production. */
function invocation(i: number): { invoke: InvokeEvent; events: TelemetryEvent[]; endMs: number } {
  const start = T0 + i * 120;
  const requestId = `${hex(i, 8)}-7d2c-4d6e-9a3b-${hex(i * 7919, 12)}`;
  const tracing = {
    type: 'X-Amzn-Trace-Id',
    value: `Root=1-${hex(Math.floor(start / 1000), 8)}-${hex(i, 12)}${hex(i * 31, 12)};Parent=${hex(i * 131 + 1, 16)};Sampled=1`,
    spanId: hex(i * 977 + 3, 16),
  };
  const runtimeMs = 40 + (i % 50);
  const end = start + runtimeMs;
  const status = i % 97 === 0 ? 'error' : 'success';
  return {
    invoke: { eventType: 'INVOKE', requestId, deadlineMs: start + 30_000, invokedFunctionArn: ARN, tracing },
    events: [
      { type: 'platform.start', timeMs: start, requestId, version: '$LATEST', tracing },
      {
        type: 'platform.runtimeDone',
        timeMs: end,
        requestId,
        status,
        durationMs: runtimeMs,
        producedBytes: 512 + (i % 2048),
        spans: [
          { name: 'responseLatency', startMs: start, durationMs: runtimeMs - 2 },
          { name: 'responseDuration', startMs: end - 2, durationMs: 0.2 },
        ],
        tracing,
      },
      {
        type: 'platform.report',
        timeMs: end + 3,
        requestId,
        status,
        durationMs: runtimeMs + 2.5,
        billedDurationMs: runtimeMs + 3,
        memorySizeMB: 512,
        maxMemoryUsedMB: 90 + (i % 40),
        spans: [{ name: 'extensionOverhead', startMs: end, durationMs: 2.5 }],
        tracing,
      },
    ],
    endMs: end + 3,
  };
}

/** Converted telemetry of `count` invocations, collected every `every` invocations. */
function convertedChunks(count: number, every: number): TelemetryChunk[][] {
  const converter = new PlatformConverter({
    env: {
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: 'orders-api',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    },
    maxHeldMs: 0,
  });
  converter.onRegistered({
    functionName: 'orders-api',
    functionVersion: '$LATEST',
    handler: 'index.handler',
  });
  const groups: TelemetryChunk[][] = [];
  for (let i = 0; i < count; i++) {
    const inv = invocation(i);
    converter.onInvoke(inv.invoke);
    converter.ingest(inv.events);
    if ((i + 1) % every === 0) groups.push(converter.collect(inv.endMs + 1, false));
  }
  return groups;
}

const sum = (chunks: TelemetryChunk[], signal: string): number =>
  chunks.filter((c) => c.signal === signal).reduce((n, c) => n + c.items, 0);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface ThroughputResult {
  case: string;
  spansPerSecond: number;
  itemsPerSecond: number;
  spansDelivered: number;
  requests: number;
  flushMsAvg: number;
  verifiedAtCollector: boolean;
}

async function throughput(
  col: Collector,
  chunks: TelemetryChunk[],
  compression: OtlpCompression,
  protocol: OtlpProtocol,
): Promise<ThroughputResult> {
  const pipeline = new ExportPipeline({
    destinations: [destination('collector', col.endpoint, { compression, protocol, timeoutMs: 30_000 })],
    queue: { maxItems: 10_000_000, maxBytes: 1 << 30 },
    log: QUIET,
  });
  const spansPerRound = sum(chunks, 'traces');
  // Warm-up and proof: the first round is read back from the collector's files.
  await col.clear();
  for (const c of chunks) pipeline.enqueue(c);
  const warm = await pipeline.flush({ deadlineMs: Date.now() + 60_000, reason: 'bench' });
  const out = await col.read();
  const verified =
    out.spans.length === spansPerRound && warm.droppedItems === 0 && warm.retryLaterItems === 0;

  let spans = 0;
  let items = 0;
  let requests = 0;
  let flushMs = 0;
  let flushes = 0;
  const started = performance.now();
  while (performance.now() - started < SECONDS * 1000) {
    for (const c of chunks) pipeline.enqueue(c);
    const report = await pipeline.flush({ deadlineMs: Date.now() + 60_000, reason: 'bench' });
    if (report.droppedItems > 0 || report.retryLaterItems > 0)
      throw new Error(`export failed: ${JSON.stringify(report)}`);
    spans += spansPerRound;
    items += report.exportedItems;
    requests += report.requests;
    flushMs += report.durationMs;
    flushes++;
  }
  const elapsedS = (performance.now() - started) / 1000;
  pipeline.shutdown();
  await col.clear();
  return {
    case: `${protocol === 'http/json' ? 'json' : 'protobuf'}${compression === 'gzip' ? '+gzip' : ''}`,
    spansPerSecond: Math.round(spans / elapsedS),
    itemsPerSecond: Math.round(items / elapsedS),
    spansDelivered: spans,
    requests,
    flushMsAvg: Number((flushMs / flushes).toFixed(1)),
    verifiedAtCollector: verified,
  };
}

interface LatencyResult {
  case: string;
  flushes: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

async function flushLatency(
  col: Collector,
  groups: TelemetryChunk[][],
  compression: OtlpCompression,
): Promise<LatencyResult> {
  const pipeline = new ExportPipeline({
    destinations: [destination('collector', col.endpoint, { compression, timeoutMs: 10_000 })],
    log: QUIET,
  });
  const samples: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    for (const c of groups[i] as TelemetryChunk[]) pipeline.enqueue(c);
    const t = performance.now();
    const report = await pipeline.flush({ deadlineMs: Date.now() + 10_000, reason: 'bench' });
    if (report.retryLaterItems > 0 || report.droppedItems > 0) throw new Error('flush failed');
    if (i >= 10) samples.push(performance.now() - t); // the first ones open connections
  }
  pipeline.shutdown();
  await col.clear();
  samples.sort((a, b) => a - b);
  const round = (v: number) => Number(v.toFixed(2));
  return {
    case: compression === 'gzip' ? 'protobuf+gzip' : 'protobuf',
    flushes: samples.length,
    p50Ms: round(percentile(samples, 50)),
    p95Ms: round(percentile(samples, 95)),
    p99Ms: round(percentile(samples, 99)),
    maxMs: round(samples.at(-1) ?? 0),
  };
}

interface WireResult {
  case: string;
  invocations: number;
  requests: number;
  bytesPerInvocation: number;
  tracesBytesPerInvocation: number;
  metricsBytesPerInvocation: number;
  logsBytesPerInvocation: number;
  logLinesPerInvocation: number;
}

async function wireBytes(
  col: Collector,
  strategy: string,
  compression: OtlpCompression,
): Promise<WireResult> {
  const proxy = await startFaultProxy(col.endpoint);
  const lines = 5;
  try {
    const { sim } = await extensionEnvironment({
      handler: 'logs.mjs',
      endpoint: proxy.url,
      functionName: 'orders-api',
      logLevel: 'warn',
      keepHistory: false,
      env: { LAMBDA_OTEL_EXPORTER_COMPRESSION: compression, LAMBDA_OTEL_FLUSH_STRATEGY: strategy },
    });
    try {
      for (let i = 0; i < SIM_INVOCATIONS; i++) await sim.invoke({ lines, size: 120 });
      await sim.shutdown();
    } finally {
      await sim.close();
    }
    const bytes = (path: string) =>
      proxy.log.filter((r) => path === '' || r.path === path).reduce((n, r) => n + r.wireBytes, 0);
    const per = (n: number) => Math.round(n / SIM_INVOCATIONS);
    if (proxy.log.some((r) => r.status !== 200)) throw new Error('the collector refused a request');
    return {
      case: `${strategy}, ${compression === 'gzip' ? 'gzip' : 'no compression'}`,
      invocations: SIM_INVOCATIONS,
      requests: proxy.log.length,
      bytesPerInvocation: per(bytes('')),
      tracesBytesPerInvocation: per(bytes('/v1/traces')),
      metricsBytesPerInvocation: per(bytes('/v1/metrics')),
      logsBytesPerInvocation: per(bytes('/v1/logs')),
      logLinesPerInvocation: lines,
    };
  } finally {
    await proxy.close();
    await col.clear();
  }
}

async function main(): Promise<void> {
  const col = await startCollector({ debugVerbosity: 'basic' });
  try {
    const groups = convertedChunks(INVOCATIONS, COLLECT_EVERY);
    const chunks = groups.flat();
    const spansPerRound = sum(chunks, 'traces');
    const throughputResults: ThroughputResult[] = [];
    for (const [compression, protocol] of [
      ['gzip', 'http/protobuf'],
      ['none', 'http/protobuf'],
      ['gzip', 'http/json'],
    ] as const) {
      throughputResults.push(await throughput(col, chunks, compression, protocol));
    }
    const perInvocation = convertedChunks(LATENCY_SAMPLES + 10, 1);
    const latencyResults = [
      await flushLatency(col, perInvocation, 'gzip'),
      await flushLatency(col, perInvocation, 'none'),
    ];
    const wireResults: WireResult[] = [];
    for (const strategy of ['adaptive', 'end']) {
      for (const compression of ['gzip', 'none'] as const)
        wireResults.push(await wireBytes(col, strategy, compression));
    }

    console.log(
      `\nthroughput to the collector (loopback, file exporter): ${INVOCATIONS} invocations per round = ` +
        `${spansPerRound} spans + ${sum(chunks, 'metrics')} metric points in ${chunks.length} chunks, ${SECONDS} s per case`,
    );
    console.table(throughputResults);
    console.log('\nend-of-invocation flush latency (one invocation per flush: 4 spans + metrics)');
    console.table(latencyResults);
    console.log(
      `\nbytes on the wire per invocation (simulator, logs fixture, ${SIM_INVOCATIONS} invocations)`,
    );
    console.table(wireResults);

    const result = {
      at: new Date().toISOString(),
      node: process.version,
      invocationsPerRound: INVOCATIONS,
      spansPerRound,
      secondsPerCase: SECONDS,
      throughput: throughputResults,
      flushLatency: latencyResults,
      wireBytes: wireResults,
    };
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    const stamp = result.at.replace(/[:.]/g, '-');
    writeFileSync(
      new URL(`./results/export-e2e-${stamp}.json`, import.meta.url),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  } finally {
    await col.stop();
  }
}

await main();
