// Platform converter throughput: telemetry events converted AND serialized to OTLP protobuf per
// second on one core, with a realistic mix (per invocation: INVOKE, platform.start, runtimeDone,
// report, and function log lines the converter passes over), collected the way the flush manager
// does (every few invocations), plus OTLP bytes per invocation, raw and gzip.
//
//   node --import tsx bench/convert.bench.ts [--invocations N] [--logs-per-invocation N] [--collect-every N]
//     [--budget-mb N]   (held telemetry counted against a memory budget of N MiB, as in the extension)

import { gzipSync } from 'node:zlib';
import type { InvokeEvent, TelemetryEvent } from '../src/lambda/telemetry-events.js';
import type { TelemetryChunk } from '../src/model/chunk.js';
import { PlatformConverter } from '../src/convert/index.js';
import { MemoryBudget } from '../src/pipeline/memory-budget.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const INVOCATIONS = arg('invocations', 100_000);
const LOGS_PER_INVOCATION = arg('logs-per-invocation', 2);
const COLLECT_EVERY = arg('collect-every', 20);
const BUDGET_MB = arg('budget-mb', 0);
const WARMUP = Math.min(20_000, Math.floor(INVOCATIONS / 5));

const T0 = Date.parse('2025-06-01T12:00:00Z');
const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api';

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0').slice(-width);
}

interface Invocation {
  invoke: InvokeEvent;
  events: TelemetryEvent[];
  endMs: number;
}

/** One warm invocation's records; ids and timing vary per invocation, as they would in production. */
function makeInvocation(i: number): Invocation {
  const start = T0 + i * 120;
  const requestId = `${hex(i, 8)}-7d2c-4d6e-9a3b-${hex(i * 7919, 12)}`;
  const tracing = {
    type: 'X-Amzn-Trace-Id',
    value: `Root=1-${hex(Math.floor(start / 1000), 8)}-${hex(i, 12)}${hex(i * 31, 12)};Parent=${hex(i * 131 + 1, 16)};Sampled=1`,
  };
  const runtimeMs = 40 + (i % 50);
  const end = start + runtimeMs;
  const events: TelemetryEvent[] = [
    { type: 'platform.start', timeMs: start, requestId, version: '$LATEST', tracing },
  ];
  for (let l = 0; l < LOGS_PER_INVOCATION; l++) {
    events.push({
      type: 'function',
      timeMs: start + 5 + l,
      message: `${new Date(start).toISOString()}\t${requestId}\tINFO\tprocessed order ${i}-${l}`,
      structured: false,
    });
  }
  events.push(
    {
      type: 'platform.runtimeDone',
      timeMs: end,
      requestId,
      status: i % 97 === 0 ? 'error' : 'success',
      errorType: i % 97 === 0 ? 'Runtime.HandlerError' : undefined,
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
      status: i % 97 === 0 ? 'error' : 'success',
      durationMs: runtimeMs + 2.5,
      billedDurationMs: runtimeMs + 3,
      memorySizeMB: 512,
      maxMemoryUsedMB: 90 + (i % 40),
      spans: [
        { name: 'runtimeOverhead', startMs: end - 1, durationMs: 0.8 },
        { name: 'extensionOverhead', startMs: end, durationMs: 2.5 },
      ],
      tracing,
    },
  );
  return {
    invoke: { eventType: 'INVOKE', requestId, deadlineMs: start + 30_000, invokedFunctionArn: ARN, tracing },
    events,
    endMs: end + 3,
  };
}

interface Run {
  events: number;
  invocations: number;
  seconds: number;
  cpuSeconds: number;
  protobufBytes: number;
  gzipBytes: number;
  spans: number;
  dataPoints: number;
}

function run(invocations: Invocation[], measureGzip: boolean): Run {
  const conv = new PlatformConverter({
    env: {
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: 'orders-api',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    },
    maxHeldMs: 0,
    now: () => T0,
    budget: BUDGET_MB > 0 ? new MemoryBudget(BUDGET_MB * 1024 * 1024) : undefined,
  });
  conv.onRegistered({ functionName: 'orders-api', functionVersion: '$LATEST', handler: 'index.handler' });
  let events = 0;
  let protobufBytes = 0;
  let gzipBytes = 0;
  let spans = 0;
  let dataPoints = 0;
  const account = (chunks: TelemetryChunk[]): void => {
    for (const c of chunks) {
      protobufBytes += c.bytes;
      if (c.signal === 'traces') spans += c.items;
      else dataPoints += c.items;
      if (measureGzip) gzipBytes += gzipSync(c.protobuf).byteLength;
    }
  };
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  for (let i = 0; i < invocations.length; i++) {
    const inv = invocations[i] as Invocation;
    conv.onInvoke(inv.invoke);
    conv.ingest(inv.events);
    events += inv.events.length;
    if ((i + 1) % COLLECT_EVERY === 0) account(conv.collect(inv.endMs + 1, false));
  }
  account(conv.collect(T0 + invocations.length * 120 + 60_000, true));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStarted);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const stats = conv.stats;
  if (stats.eventErrors > 0 || stats.encodeErrors > 0 || stats.spansOverBudget > 0)
    throw new Error(`converter failures: ${JSON.stringify(stats)}`);
  return {
    events,
    invocations: invocations.length,
    seconds,
    cpuSeconds,
    protobufBytes,
    gzipBytes,
    spans,
    dataPoints,
  };
}

const data: Invocation[] = [];
for (let i = 0; i < INVOCATIONS; i++) data.push(makeInvocation(i));

run(data.slice(0, WARMUP), false);
const timed = run(data, false);
// Sizes: per collect as the exporter would send them (gzip per request), separately from timing.
const sized = run(data.slice(0, Math.min(INVOCATIONS, 10_000)), true);

const eventsPerSecond = timed.events / timed.seconds;
const result = {
  node: process.version,
  invocations: timed.invocations,
  telemetryEventsPerInvocation: timed.events / timed.invocations,
  collectEvery: COLLECT_EVERY,
  budgetMb: BUDGET_MB > 0 ? BUDGET_MB : undefined,
  seconds: Number(timed.seconds.toFixed(3)),
  eventsPerSecond: Math.round(eventsPerSecond),
  invocationsPerSecond: Math.round(timed.invocations / timed.seconds),
  // On a shared machine CPU time is the steadier figure (it includes the GC's other threads).
  cpuSeconds: Number(timed.cpuSeconds.toFixed(3)),
  invocationsPerCpuSecond: Math.round(timed.invocations / timed.cpuSeconds),
  spansPerInvocation: Number((timed.spans / timed.invocations).toFixed(2)),
  protobufBytesPerInvocation: Math.round(sized.protobufBytes / sized.invocations),
  gzipBytesPerInvocation: Math.round(sized.gzipBytes / sized.invocations),
  metricsDataPointsPerCollect: Number(
    (sized.dataPoints / Math.ceil(sized.invocations / COLLECT_EVERY + 1)).toFixed(1),
  ),
  target: 50_000,
  meetsTarget: eventsPerSecond >= 50_000,
};
console.log(JSON.stringify(result, null, 2));
