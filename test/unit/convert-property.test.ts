// Property-based: arbitrary, often malformed (but typed) sequences of telemetry, INVOKE events,
// directory calls and collects. The converter never throws, never hits an internal error, and what
// it emits is always valid OTLP with consistent counts and a complete span tree.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PlatformConverter, type Temporality } from '../../src/convert/index.js';
import type {
  InvokeEvent,
  PlatformSpan,
  TelemetryEvent,
  TracingContext,
} from '../../src/lambda/telemetry-events.js';
import type { TelemetryChunk } from '../../src/model/chunk.js';
import {
  allMetrics,
  allSpans,
  attrs,
  decodeMetrics,
  decodeTraces,
  type LocatedSpan,
} from '../../tools/otlp/decode.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');

const requestId = fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5', '');
const time = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -60_000, max: 120_000 }).map((d) => T0 + d) },
  { weight: 1, arbitrary: fc.constantFrom(0, T0 + 0.123456, T0 + 86_400_000 * 365) },
);
const amount = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: 0, max: 20_000, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-5, Number.NaN, Number.POSITIVE_INFINITY, 0) },
);
const optionalAmount = fc.option(amount, { nil: undefined });
const status = fc.constantFrom('success', 'error', 'failure', 'timeout', 'weird-new-status');
const errorType = fc.option(
  fc.constantFrom('Runtime.ExitError', 'Runtime.OutOfMemory', 'Sandbox.Timedout', ''),
  {
    nil: undefined,
  },
);
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const tracingValue = fc.oneof(
  fc
    .tuple(hex(8), hex(24), fc.option(hex(16), { nil: undefined }), fc.constantFrom('0', '1', '?', ''))
    .map(([a, b, p, s]) => `Root=1-${a}-${b}${p ? `;Parent=${p}` : ''}${s ? `;Sampled=${s}` : ''}`),
  fc.constantFrom(
    'Root=1-683c4200-aaaaaaaaaaaaaaaaaaaaaaaa;Parent=1111111111111111;Sampled=1',
    'garbage',
    '',
  ),
  hex(32).map((t) => `00-${t}-b7ad6b7169203331-01`),
);
const tracing: fc.Arbitrary<TracingContext | undefined> = fc.option(
  fc.record(
    {
      type: fc.constantFrom('X-Amzn-Trace-Id', 'traceparent'),
      value: tracingValue,
      spanId: fc.option(fc.oneof(hex(16), fc.constantFrom('zz', '0000000000000000')), { nil: undefined }),
    },
    { requiredKeys: ['type', 'value'] },
  ),
  { nil: undefined },
);
const platformSpan: fc.Arbitrary<PlatformSpan> = fc.record({
  name: fc.constantFrom('responseLatency', 'responseDuration', 'runtimeOverhead', 'extensionOverhead', 'x'),
  startMs: time,
  durationMs: amount,
});
const spans = fc.array(platformSpan, { maxLength: 3 });
const initType = fc.constantFrom(
  'on-demand',
  'provisioned-concurrency',
  'snap-start',
  'lambda-managed-instances',
);
const runtimeVersion = fc.option(fc.constantFrom('nodejs:20.v1', 'python:3.13.DurableFunction.v1'), {
  nil: undefined,
});

const event: fc.Arbitrary<TelemetryEvent> = fc.oneof(
  fc.record({ type: fc.constant('platform.start' as const), timeMs: time, requestId, tracing }),
  fc.record({
    type: fc.constant('platform.runtimeDone' as const),
    timeMs: time,
    requestId,
    status,
    errorType,
    durationMs: optionalAmount,
    producedBytes: optionalAmount,
    spans,
    tracing,
  }),
  fc.record({
    type: fc.constant('platform.report' as const),
    timeMs: time,
    requestId,
    status,
    errorType,
    durationMs: amount,
    billedDurationMs: optionalAmount,
    memorySizeMB: optionalAmount,
    maxMemoryUsedMB: optionalAmount,
    initDurationMs: optionalAmount,
    restoreDurationMs: optionalAmount,
    spans,
    tracing,
  }),
  fc.record({
    type: fc.constant('platform.initStart' as const),
    timeMs: time,
    initializationType: initType,
    phase: fc.constantFrom('init', 'invoke'),
    instanceId: fc.option(fc.constantFrom('i-1', 'i-2', ''), { nil: undefined }),
    instanceMaxMemory: optionalAmount,
    runtimeVersion,
  }),
  fc.record({
    type: fc.constant('platform.initRuntimeDone' as const),
    timeMs: time,
    initializationType: initType,
    phase: fc.constant('init'),
    status,
    errorType,
    spans,
  }),
  fc.record({
    type: fc.constant('platform.initReport' as const),
    timeMs: time,
    initializationType: initType,
    phase: fc.constant('init'),
    status,
    errorType,
    durationMs: amount,
    spans,
  }),
  fc.record({ type: fc.constant('platform.restoreStart' as const), timeMs: time, runtimeVersion }),
  fc.record({
    type: fc.constant('platform.restoreRuntimeDone' as const),
    timeMs: time,
    status,
    errorType,
    spans,
  }),
  fc.record({
    type: fc.constant('platform.restoreReport' as const),
    timeMs: time,
    status,
    errorType,
    durationMs: optionalAmount,
    spans,
  }),
  fc.record({
    type: fc.constant('platform.logsDropped' as const),
    timeMs: time,
    droppedBytes: amount,
    droppedRecords: amount,
    reason: fc.constant('slow'),
  }),
  fc.record({
    type: fc.constant('function' as const),
    timeMs: time,
    message: fc.string(),
    structured: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('unknown' as const),
    timeMs: time,
    originalType: fc.string(),
    record: fc.anything(),
  }),
) as fc.Arbitrary<TelemetryEvent>;

type Op =
  | { op: 'ingest'; events: TelemetryEvent[] }
  | { op: 'invoke'; event: InvokeEvent }
  | { op: 'collect'; atMs: number }
  | { op: 'adopt'; requestId: string; traceId: string; parentSpanId?: string }
  | { op: 'lookup'; requestId: string }
  | { op: 'oom'; requestId?: string };

const operation: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(event, { minLength: 1, maxLength: 6 })
      .map((events) => ({ op: 'ingest' as const, events })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        requestId,
        deadlineMs: time,
        invokedFunctionArn: fc.constantFrom(
          'arn:aws:lambda:eu-west-1:123456789012:function:fn:live',
          'arn:aws:lambda:eu-west-1:123456789012:function:fn',
          'not-an-arn',
          '',
        ),
        tracing,
      })
      .map((e) => ({ op: 'invoke' as const, event: { eventType: 'INVOKE' as const, ...e } as InvokeEvent })),
  },
  { weight: 2, arbitrary: time.map((atMs) => ({ op: 'collect' as const, atMs })) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        requestId,
        traceId: fc.oneof(hex(32), fc.constantFrom('bad', '0'.repeat(32))),
        parentSpanId: fc.option(hex(16), { nil: undefined }),
      })
      .map((a) => ({ op: 'adopt' as const, ...a })),
  },
  { weight: 1, arbitrary: requestId.map((r) => ({ op: 'lookup' as const, requestId: r })) },
  {
    weight: 1,
    arbitrary: fc.option(requestId, { nil: undefined }).map((r) => ({ op: 'oom' as const, requestId: r })),
  },
);

const settings = fc.record({
  temporality: fc.constantFrom<Temporality>('cumulative', 'delta'),
  maxHeldMs: fc.constantFrom(0, 1000, 60_000),
  maxSpansPerChunk: fc.constantFrom(1, 4, 512),
});

const SPAN_FLAG_IS_REMOTE = 0x200;

function checkTraceChunk(chunk: TelemetryChunk): LocatedSpan[] {
  assert.equal(chunk.bytes, chunk.protobuf.byteLength);
  const decoded = allSpans(decodeTraces(chunk.protobuf));
  assert.equal(decoded.length, chunk.items);
  assert.ok(Number.isFinite(chunk.createdAtMs));
  for (const s of decoded) {
    assert.match(s.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(s.traceId, '0'.repeat(32));
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.notEqual(s.spanId, '0'.repeat(16));
    assert.match(s.parentSpanId, /^$|^[0-9a-f]{16}$/);
    assert.notEqual(s.parentSpanId, s.spanId);
    assert.ok(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano), 'end ≥ start');
    assert.ok([1, 2].includes(s.kind));
    assert.ok(s.name.length > 0);
    for (const l of s.links) assert.match(l.spanId, /^[0-9a-f]{16}$/);
  }
  // The chunk's JSON form agrees with the protobuf.
  const json = chunk.json() as { resourceSpans: { scopeSpans: { spans: unknown[] }[] }[] };
  assert.equal(
    json.resourceSpans.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0),
    chunk.items,
  );
  return decoded;
}

function checkMetricsChunk(chunk: TelemetryChunk, temporality: Temporality): Map<string, number> {
  assert.equal(chunk.bytes, chunk.protobuf.byteLength);
  const metrics = allMetrics(decodeMetrics(chunk.protobuf));
  const wanted = temporality === 'delta' ? 1 : 2;
  const counters = new Map<string, number>();
  let points = 0;
  for (const m of metrics) {
    assert.ok(m.name.length > 0 && m.unit.length > 0, 'name and unit');
    if (m.sum) {
      assert.equal(m.sum.aggregationTemporality, wanted);
      for (const p of m.sum.dataPoints) {
        points++;
        const v = Number(p.asInt);
        assert.ok(Number.isInteger(v) && v >= 0, `${m.name} value ${p.asInt}`);
        assert.ok(BigInt(p.timeUnixNano) >= BigInt(p.startTimeUnixNano));
        assert.equal(attrs(p.attributes)['faas.invocation_id'], undefined);
        counters.set(m.name, (counters.get(m.name) ?? 0) + v);
      }
    } else {
      assert.ok(m.histogram, `${m.name} is a sum or a histogram`);
      assert.equal(m.histogram.aggregationTemporality, wanted);
      for (const p of m.histogram.dataPoints) {
        points++;
        assert.equal(p.bucketCounts.length, p.explicitBounds.length + 1);
        const total = p.bucketCounts.reduce((n, c) => n + Number(c), 0);
        assert.equal(total, Number(p.count), 'bucket counts add up to count');
        assert.ok(Number(p.count) > 0);
        assert.ok(Number.isFinite(p.sum) && (p.sum ?? -1) >= 0);
        assert.ok((p.min ?? 0) <= (p.max ?? 0));
        assert.ok(BigInt(p.timeUnixNano) >= BigInt(p.startTimeUnixNano));
      }
    }
  }
  assert.equal(points, chunk.items);
  return counters;
}

describe('converter properties', () => {
  it('never throws and always emits valid, complete OTLP', () => {
    fc.assert(
      fc.property(settings, fc.array(operation, { maxLength: 40 }), (options, ops) => {
        let clock = T0;
        const conv = new PlatformConverter({
          env: {
            AWS_REGION: 'eu-west-1',
            AWS_LAMBDA_FUNCTION_NAME: 'fn',
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
          },
          exportUnsampled: true,
          now: () => clock,
          ...options,
        });
        const exported: LocatedSpan[] = [];
        const invocationCounts: number[] = [];
        let restored = false;
        const take = (chunks: TelemetryChunk[]) => {
          assert.ok(
            chunks.filter((c) => c.signal === 'metrics').length <= 1,
            'one metrics chunk per collect',
          );
          for (const chunk of chunks) {
            if (chunk.signal === 'traces') exported.push(...checkTraceChunk(chunk));
            else
              invocationCounts.push(
                checkMetricsChunk(chunk, options.temporality).get('faas.invocations') ?? -1,
              );
          }
        };
        for (const op of ops) {
          switch (op.op) {
            case 'ingest':
              if (op.events.some((e) => e.type === 'platform.restoreStart')) restored = true;
              conv.ingest(op.events);
              break;
            case 'invoke':
              conv.onInvoke(op.event);
              break;
            case 'collect':
              clock = op.atMs;
              take(conv.collect(op.atMs, false));
              break;
            case 'adopt':
              conv.directory.adoptFunctionTrace(op.requestId, op);
              break;
            case 'lookup': {
              const id = conv.directory.lookupByRequestId(op.requestId);
              if (id) {
                assert.match(id.traceId, /^[0-9a-f]{32}$/);
                assert.match(id.spanId, /^[0-9a-f]{16}$/);
              }
              break;
            }
            case 'oom':
              conv.noteOutOfMemory(op.requestId);
              break;
          }
        }
        take(conv.collect(T0 + 200_000, true));

        const stats = conv.stats;
        assert.equal(stats.eventErrors, 0, `internal error: ${conv.lastFailure}`);
        assert.equal(stats.encodeErrors, 0);
        assert.equal(stats.spansDropped, 0);
        assert.equal(conv.heldInvocations, 0, 'the final collect leaves nothing held');

        // Every invocation (attempt) seen is exported exactly once as a SERVER span; no span twice.
        const invocationSpans = exported.filter((s) => s.kind === 2);
        assert.equal(invocationSpans.length, stats.invocations);
        for (const s of invocationSpans) assert.ok(attrs(s.attributes)['faas.invocation_id']);
        assert.equal(new Set(exported.map((s) => s.spanId)).size, exported.length, 'no span exported twice');

        // The span tree is complete: local parents were exported, in the same trace.
        const byId = new Map(exported.map((s) => [s.spanId, s]));
        for (const s of exported) {
          if (s.parentSpanId === '' || (s.flags & SPAN_FLAG_IS_REMOTE) !== 0) continue;
          const parent = byId.get(s.parentSpanId);
          assert.ok(parent, `parent of ${s.name} exported`);
          assert.equal(parent.traceId, s.traceId);
        }

        // Each invocation counted once (a restore restarts the aggregation, so only without one).
        if (!restored) {
          const counted =
            options.temporality === 'cumulative'
              ? Math.max(0, ...invocationCounts)
              : invocationCounts.filter((n) => n > 0).reduce((a, b) => a + b, 0);
          assert.equal(counted, stats.invocations);
        }
      }),
      { numRuns: 150 },
    );
  });
});
