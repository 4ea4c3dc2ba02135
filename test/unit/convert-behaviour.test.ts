// Converter behaviour beyond the fixtures: init placement by initialization type, durable functions,
// redelivered batches, chunking, the sink, metric cardinality and temporality details, OOM lines.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isOutOfMemoryLine,
  PlatformConverter,
  type PlatformConverterOptions,
} from '../../src/convert/index.js';
import type { TelemetryEvent } from '../../src/lambda/telemetry-events.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import { SequentialIds } from '../support/telemetry-fixtures.js';
import {
  allMetrics,
  allSpans,
  attrs,
  decodeMetrics,
  decodeTraces,
  type LocatedMetric,
  type LocatedSpan,
  nanosToMs,
} from '../../tools/otlp/decode.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');
const ENV = {
  AWS_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'fn',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
};

function make(options: Partial<PlatformConverterOptions> = {}, sink?: { enqueue(c: TelemetryChunk): void }) {
  return new PlatformConverter(
    { env: ENV, now: () => T0, idGenerator: new SequentialIds(), ...options },
    sink,
  );
}

function spansOf(chunks: TelemetryChunk[]): LocatedSpan[] {
  return chunks.filter((c) => c.signal === 'traces').flatMap((c) => allSpans(decodeTraces(c.protobuf)));
}

function metricsOf(chunks: TelemetryChunk[]): LocatedMetric[] {
  return chunks.filter((c) => c.signal === 'metrics').flatMap((c) => allMetrics(decodeMetrics(c.protobuf)));
}

function invocation(
  requestId: string,
  startMs: number,
  durationMs: number,
  extra: Partial<TelemetryEvent> = {},
) {
  return [
    { type: 'platform.start', timeMs: T0 + startMs, requestId },
    {
      type: 'platform.runtimeDone',
      timeMs: T0 + startMs + durationMs,
      requestId,
      status: 'success',
      durationMs,
      spans: [],
      ...extra,
    },
  ] as TelemetryEvent[];
}

function init(
  type: string,
  startMs: number,
  durationMs: number,
  runtimeVersion = 'nodejs:20.v1',
): TelemetryEvent[] {
  return [
    {
      type: 'platform.initStart',
      timeMs: T0 + startMs,
      initializationType: type,
      phase: 'init',
      runtimeVersion,
    },
    {
      type: 'platform.initReport',
      timeMs: T0 + startMs + durationMs,
      initializationType: type,
      phase: 'init',
      status: 'success',
      durationMs,
      spans: [],
    },
  ];
}

describe('init span placement', () => {
  it('keeps a provisioned-concurrency init in its own trace and links the first invocation to it', () => {
    const conv = make();
    conv.ingest(init('provisioned-concurrency', -3_600_000, 800));
    const early = spansOf(conv.collect(T0 - 3_590_000, false));
    const initSpan = early.find((s) => s.name === 'init');
    assert.ok(initSpan, 'exported after the hold, not kept until an invocation that may come hours later');
    assert.equal(initSpan.parentSpanId, '');
    conv.ingest(invocation('r1', 0, 20));
    const spans = spansOf(conv.collect(T0 + 5_000, false));
    const inv = spans.find((s) => s.name === 'fn') as LocatedSpan;
    assert.equal(inv.links.length, 1);
    assert.equal(inv.links[0]?.spanId, initSpan.spanId);
    assert.equal(inv.links[0]?.traceId, initSpan.traceId);
    assert.equal(attrs(inv.attributes)['faas.coldstart'], true);
  });

  it('exports an init that no invocation follows on its own at shutdown', () => {
    const conv = make();
    conv.ingest(init('on-demand', 0, 300));
    const spans = spansOf(conv.collect(T0 + 400, true));
    assert.equal(spans.length, 1);
    assert.equal(spans[0]?.name, 'init');
  });

  it('exports an init that never ended as incomplete', () => {
    const conv = make();
    conv.ingest([{ type: 'platform.initStart', timeMs: T0, initializationType: 'on-demand', phase: 'init' }]);
    const spans = spansOf(conv.collect(T0 + 1_000, true));
    assert.equal(attrs(spans[0]?.attributes)['aws.lambda.incomplete'], true);
  });

  it('marks a failed init with an error status', () => {
    const conv = make();
    conv.ingest([
      { type: 'platform.initStart', timeMs: T0, initializationType: 'on-demand', phase: 'init' },
      {
        type: 'platform.initRuntimeDone',
        timeMs: T0 + 100,
        initializationType: 'on-demand',
        phase: 'init',
        status: 'error',
        errorType: 'Runtime.ExitError',
        spans: [],
      },
    ]);
    const span = spansOf(conv.collect(T0 + 60_000, false))[0];
    assert.equal(span?.status?.code, 2);
    assert.equal(attrs(span?.attributes)['error.type'], 'Runtime.ExitError');
  });
});

describe('durable functions', () => {
  it('marks spans when the runtime version says DurableFunction', () => {
    const conv = make({ maxHeldMs: 0 });
    conv.ingest(init('on-demand', -500, 400, 'python:3.13.DurableFunction.v2'));
    conv.ingest(invocation('r1', 0, 20));
    const spans = spansOf(conv.collect(T0 + 100, false));
    assert.equal(spans.length, 2);
    for (const s of spans) assert.equal(attrs(s.attributes)['aws.lambda.durable'], true, s.name);
  });

  it('does not mark ordinary functions', () => {
    const conv = make({ maxHeldMs: 0 });
    conv.ingest(invocation('r1', 0, 20));
    assert.equal(
      attrs(spansOf(conv.collect(T0 + 100, false))[0]?.attributes)['aws.lambda.durable'],
      undefined,
    );
  });
});

describe('redelivered telemetry', () => {
  it('ingesting the same batch twice adds no spans and no counts', () => {
    const conv = make({ maxHeldMs: 0 });
    const batch: TelemetryEvent[] = [
      ...init('on-demand', -500, 400),
      ...invocation('r1', 0, 20),
      {
        type: 'platform.report',
        timeMs: T0 + 30,
        requestId: 'r1',
        status: 'success',
        durationMs: 25,
        billedDurationMs: 25,
        memorySizeMB: 256,
        maxMemoryUsedMB: 60,
        spans: [{ name: 'extensionOverhead', startMs: T0 + 20, durationMs: 5 }],
      },
    ];
    conv.ingest(batch);
    conv.ingest(batch);
    const chunks = conv.collect(T0 + 100, false);
    assert.deepEqual(
      spansOf(chunks)
        .map((s) => s.name)
        .sort(),
      ['extensionOverhead', 'fn', 'init'],
    );
    const metrics = metricsOf(chunks);
    for (const name of ['faas.invocations', 'faas.coldstarts']) {
      assert.equal(metrics.find((m) => m.name === name)?.sum?.dataPoints[0]?.asInt, '1', name);
    }
    for (const name of ['faas.init_duration', 'aws.lambda.billed_duration', 'faas.invoke_duration']) {
      assert.equal(metrics.find((m) => m.name === name)?.histogram?.dataPoints[0]?.count, '1', name);
    }
  });
});

describe('chunks', () => {
  it('splits spans into chunks of at most maxSpansPerChunk that each decode', () => {
    const conv = make({ maxHeldMs: 0, maxSpansPerChunk: 3 });
    for (let i = 0; i < 5; i++) conv.ingest(invocation(`r${i}`, i * 10, 5));
    const chunks = conv.collect(T0 + 1_000, false).filter((c) => c.signal === 'traces');
    assert.deepEqual(
      chunks.map((c) => c.items),
      [3, 2],
    );
    assert.equal(spansOf(chunks).length, 5);
    assert.equal(chunks[0]?.createdAtMs, T0 + 5, 'createdAtMs = oldest span end');
  });

  it('concatenated chunk bytes are one valid request', () => {
    const conv = make({ maxHeldMs: 0, maxSpansPerChunk: 2 });
    for (let i = 0; i < 4; i++) conv.ingest(invocation(`r${i}`, i * 10, 5));
    const chunks = conv.collect(T0 + 1_000, false).filter((c) => c.signal === 'traces');
    const joined = Buffer.concat(chunks.map((c) => c.protobuf));
    assert.equal(allSpans(decodeTraces(joined)).length, 4);
  });

  it('pushes full chunks to the sink during ingest, without waiting for collect', () => {
    const received: TelemetryChunk[] = [];
    const conv = make(
      { maxHeldMs: 0, maxSpansPerChunk: 2, maxInvocations: 1 },
      { enqueue: (c) => received.push(c) },
    );
    // maxInvocations 1: each new invocation evicts (exports) the previous one during ingest.
    for (let i = 0; i < 5; i++) conv.ingest([{ type: 'platform.start', timeMs: T0 + i, requestId: `r${i}` }]);
    assert.ok(received.length >= 1);
    assert.equal(received[0]?.signal, 'traces');
    assert.equal(conv.stats.evictedByCount, 4);
  });

  it('reports no metrics chunk when nothing happened', () => {
    const conv = make();
    assert.deepEqual(conv.collect(T0 + 1_000, false), []);
    assert.deepEqual(conv.collect(T0 + 2_000, true), []);
  });
});

describe('metrics', () => {
  it('folds error types beyond the series limit into one overflow series', () => {
    const conv = make({ maxHeldMs: 0 });
    for (let i = 0; i < 80; i++) {
      conv.ingest(invocation(`r${i}`, i * 10, 5, { status: 'error', errorType: `Custom.Error${i}` }));
    }
    const errors = metricsOf(conv.collect(T0 + 10_000, false)).find((m) => m.name === 'faas.errors');
    const points = errors?.sum?.dataPoints ?? [];
    assert.equal(points.length, 64);
    const overflow = points.find((p) => attrs(p.attributes)['otel.metric.overflow'] === true);
    assert.equal(overflow?.asInt, String(80 - 63));
    assert.equal(
      points.reduce((n, p) => n + Number(p.asInt), 0),
      80,
      'nothing lost',
    );
  });

  it('keeps a cumulative start time across collects and re-reports all series when something changed', () => {
    const conv = make({ maxHeldMs: 0 });
    conv.ingest(invocation('r1', 0, 5));
    const first = metricsOf(conv.collect(T0 + 1_000, false));
    conv.ingest(invocation('r2', 2_000, 5, { status: 'timeout', errorType: 'Sandbox.Timedout' }));
    const second = metricsOf(conv.collect(T0 + 3_000, false));
    const a = first.find((m) => m.name === 'faas.invocations')?.sum?.dataPoints[0];
    const b = second.find((m) => m.name === 'faas.invocations')?.sum?.dataPoints[0];
    assert.equal(a?.startTimeUnixNano, b?.startTimeUnixNano);
    assert.equal(b?.asInt, '2');
    assert.equal(nanosToMs(b?.timeUnixNano ?? '0'), T0 + 3_000);
    assert.ok(second.find((m) => m.name === 'faas.timeouts'));
    assert.equal(metricsOf(conv.collect(T0 + 4_000, false)).length, 0, 'unchanged: nothing re-sent');
  });

  it("keeps Lambda's error type when a timeout SHUTDOWN ended the invocation before runtimeDone arrived", () => {
    const conv = make({ maxHeldMs: 0 });
    conv.ingest([{ type: 'platform.start', timeMs: T0, requestId: 'r1' }]);
    conv.onShutdown({ eventType: 'SHUTDOWN', shutdownReason: 'timeout', deadlineMs: T0 + 5_000 });
    conv.ingest([
      {
        type: 'platform.runtimeDone',
        timeMs: T0 + 3_000,
        requestId: 'r1',
        status: 'timeout',
        errorType: 'Sandbox.Timedout',
        spans: [],
      },
    ]);
    const chunks = conv.collect(T0 + 4_000, true);
    const [span] = spansOf(chunks).filter((s) => s.kind === 2);
    assert.equal(attrs(span?.attributes ?? [])['error.type'], 'Sandbox.Timedout');
    const errors = metricsOf(chunks).find((m) => m.name === 'faas.errors');
    assert.equal(attrs(errors?.sum?.dataPoints[0]?.attributes ?? [])['error.type'], 'Sandbox.Timedout');
  });

  it('skips malformed measurements instead of poisoning sums', () => {
    const conv = make({ maxHeldMs: 0 });
    conv.ingest([
      { type: 'platform.start', timeMs: T0, requestId: 'r1' },
      {
        type: 'platform.report',
        timeMs: T0 + 10,
        requestId: 'r1',
        status: 'success',
        durationMs: Number.NaN,
        billedDurationMs: -5,
        memorySizeMB: 256,
        maxMemoryUsedMB: Number.POSITIVE_INFINITY,
        spans: [],
      },
      {
        type: 'platform.logsDropped',
        timeMs: T0 + 20,
        droppedBytes: 2048,
        droppedRecords: 3,
        reason: 'slow',
      },
    ]);
    const metrics = metricsOf(conv.collect(T0 + 1_000, false));
    assert.equal(
      metrics.find((m) => m.name === 'aws.lambda.billed_duration'),
      undefined,
    );
    assert.equal(
      metrics.find((m) => m.name === 'faas.mem_usage'),
      undefined,
    );
    assert.equal(metrics.find((m) => m.name === 'faas.invocations')?.sum?.dataPoints[0]?.asInt, '1');
    assert.equal(metrics.find((m) => m.name === 'aws.lambda.logs_dropped')?.sum?.dataPoints[0]?.asInt, '3');
    assert.equal(metrics.find((m) => m.name === 'aws.lambda.logs_dropped')?.unit, '{record}');
    assert.equal(
      metrics.find((m) => m.name === 'aws.lambda.logs_dropped_bytes')?.sum?.dataPoints[0]?.asInt,
      '2048',
    );
  });
});

describe('out-of-memory log lines', () => {
  it('recognises the runtimes’ OOM reports', () => {
    for (const line of [
      'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
      'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
      '[ERROR] MemoryError: Unable to allocate 1.2 GiB',
      'fatal error: runtime: out of memory',
      'failed to allocate memory (NoMemoryError)',
      'Unhandled exception. System.OutOfMemoryException: Insufficient memory',
      'RequestId: abc Error: Runtime exited with error: signal: killed Runtime.OutOfMemory',
    ]) {
      assert.equal(isOutOfMemoryLine(line), true, line);
    }
  });

  it('ignores ordinary lines, including near misses', () => {
    for (const line of [
      'INFO processed order 42',
      'memory usage 120 MB',
      'MemoryErrorHandler registered',
      'heap ok',
    ]) {
      assert.equal(isOutOfMemoryLine(line), false, line);
    }
  });
});

describe('robustness', () => {
  it('rejects records without a requestId and counts them', () => {
    const conv = make();
    conv.ingest([{ type: 'platform.start', timeMs: T0, requestId: '' } as TelemetryEvent]);
    conv.onInvoke({
      eventType: 'INVOKE',
      requestId: undefined as unknown as string,
      deadlineMs: 0,
      invokedFunctionArn: '',
    });
    assert.equal(conv.stats.rejectedEvents, 2);
    assert.equal(conv.stats.invocations, 0);
  });

  it('counts unknown types and passes over log lines', () => {
    const conv = make();
    conv.ingest([
      { type: 'unknown', timeMs: T0, originalType: 'platform.future', record: {} },
      { type: 'function', timeMs: T0, message: 'hello', structured: false },
    ]);
    assert.equal(conv.stats.unknownEvents, 1);
    assert.equal(conv.stats.events, 2);
    assert.equal(conv.stats.eventErrors, 0);
  });
});

describe('shutdown', () => {
  it('ends open invocations with the shutdown reason when it is timeout or failure', () => {
    const conv = make();
    conv.ingest([{ type: 'platform.start', timeMs: T0, requestId: 'r1' }]);
    conv.onShutdown({ eventType: 'SHUTDOWN', shutdownReason: 'TIMEOUT', deadlineMs: T0 + 2_000 });
    const chunks = conv.collect(T0 + 1_000, true);
    const span = spansOf(chunks)[0];
    assert.equal(span?.status?.code, 2);
    assert.deepEqual(
      [attrs(span?.attributes)['error.type'], attrs(span?.attributes)['aws.lambda.incomplete']],
      ['timeout', true],
    );
    const metrics = metricsOf(chunks);
    assert.equal(metrics.find((m) => m.name === 'faas.timeouts')?.sum?.dataPoints[0]?.asInt, '1');
    assert.equal(metrics.find((m) => m.name === 'faas.invocations')?.sum?.dataPoints[0]?.asInt, '1');
  });

  it('leaves invocations alone on a normal spindown', () => {
    const conv = make();
    conv.ingest([{ type: 'platform.start', timeMs: T0, requestId: 'r1' }]);
    conv.onShutdown({ eventType: 'SHUTDOWN', shutdownReason: 'spindown', deadlineMs: T0 + 2_000 });
    const span = spansOf(conv.collect(T0 + 1_000, true))[0];
    assert.equal(span?.status?.code, 0);
  });
});

describe('hold', () => {
  it('releases an ended invocation at the first collect by default', () => {
    const conv = make();
    conv.ingest(invocation('r1', 0, 20));
    assert.equal(spansOf(conv.collect(T0 + 21, false)).length, 1);
  });

  it('holds it for maxHeldMs when configured', () => {
    const conv = make({ maxHeldMs: 500 });
    conv.ingest(invocation('r1', 0, 20));
    assert.equal(spansOf(conv.collect(T0 + 519, false)).length, 0);
    assert.equal(conv.heldInvocations, 1);
    assert.equal(spansOf(conv.collect(T0 + 520, false)).length, 1);
  });
});
